// report.cpp: medians, ratios and their table, JSON and chart. See report.hpp.
#include "bench/report.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>

namespace sysvmq::bench {
namespace {

// Three significant digits, with k and M for thousands and millions.
std::string number(double v) {
  char buf[32];
  const double a = std::fabs(v);
  if (a >= 1e6)
    std::snprintf(buf, sizeof buf, "%.3gM", v / 1e6);
  else if (a >= 1e4)
    std::snprintf(buf, sizeof buf, "%.3gk", v / 1e3);
  else if (a >= 100)
    std::snprintf(buf, sizeof buf, "%.0f", v);
  else
    std::snprintf(buf, sizeof buf, "%.3g", v);
  return buf;
}

std::string cell(const Summary& s) {
  return number(s.median) + " [" + number(s.min) + ".." + number(s.max) + "]";
}

// The backend's median over the kernel's; nullopt when the kernel's is not positive.
std::optional<double> ratio(const Row& row, const std::string& backend) {
  auto k = row.samples.find("kernel");
  auto b = row.samples.find(backend);
  if (k == row.samples.end() || b == row.samples.end() || k->second.empty() || b->second.empty())
    return std::nullopt;
  const double km = summarize(k->second).median;
  if (km <= 0) return std::nullopt;
  return summarize(b->second).median / km;
}

std::string ratio_text(const Row& row, const std::string& backend) {
  auto r = ratio(row, backend);
  if (!r) return "n/a";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", *r);
  return buf;
}

}  // namespace

bool on_path(const std::string& program) {
  const char* path = std::getenv("PATH");
  std::istringstream dirs(path ? path : "/usr/bin:/bin");
  std::string dir;
  while (std::getline(dirs, dir, ':'))
    if (!dir.empty() && ::access((dir + "/" + program).c_str(), X_OK) == 0) return true;
  return false;
}

Summary summarize(std::vector<double> v) {
  Summary s;
  if (v.empty()) return s;
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  s.median = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
  s.min = v.front();
  s.max = v.back();
  return s;
}

void print_table(std::ostream& out, const Run& run) {
  out << run.header << "\n";
  for (const auto& note : run.notes) out << note << "\n";
  std::vector<std::vector<std::string>> lines;
  std::vector<std::string> head = {"workload", "case", "figure", "better"};
  for (const auto& b : run.backends) {
    head.push_back(b);
    if (b != "kernel") head.push_back(b + "/kernel");
  }
  lines.push_back(head);
  for (const auto& row : run.rows) {
    std::vector<std::string> line = {row.workload, row.label, row.figure,
                                     row.higher_better ? "higher" : "lower"};
    for (const auto& b : run.backends) {
      auto it = row.samples.find(b);
      line.push_back(it == row.samples.end() || it->second.empty() ? "n/a"
                                                                   : cell(summarize(it->second)));
      if (b != "kernel") line.push_back(ratio_text(row, b));
    }
    lines.push_back(line);
  }
  std::vector<std::size_t> width(head.size(), 0);
  for (const auto& line : lines)
    for (std::size_t i = 0; i < line.size(); ++i) width[i] = std::max(width[i], line[i].size());
  for (const auto& line : lines) {
    std::string text;
    for (std::size_t i = 0; i < line.size(); ++i) {
      text += line[i];
      if (i + 1 < line.size()) text += std::string(width[i] - line[i].size() + 2, ' ');
    }
    out << text << "\n";
  }
}

void print_json(std::ostream& out, const Run& run) {
  nlohmann::json j;
  j["header"] = run.header;
  j["notes"] = run.notes;
  j["repetitions"] = run.reps;
  j["backends"] = run.backends;
  j["rows"] = nlohmann::json::array();
  for (const auto& row : run.rows) {
    nlohmann::json r = {{"workload", row.workload},
                        {"case", row.label},
                        {"metric", row.key},
                        {"figure", row.figure},
                        {"better", row.higher_better ? "higher" : "lower"}};
    for (const auto& [backend, samples] : row.samples) {
      Summary s = summarize(samples);
      nlohmann::json b = {
          {"median", s.median}, {"min", s.min}, {"max", s.max}, {"samples", samples}};
      if (backend != "kernel") {
        auto q = ratio(row, backend);
        b["ratio_to_kernel"] = q ? nlohmann::json(*q) : nlohmann::json(nullptr);
      }
      r["results"][backend] = b;
    }
    j["rows"].push_back(r);
  }
  out << j.dump(2) << "\n";
}

bool plot(const Run& run, const std::string& path, std::string& why) {
  if (!on_path("gnuplot")) {
    why = "gnuplot is not installed (apt-get install gnuplot-nox); no chart written to " + path;
    return false;
  }
  std::vector<std::string> others;
  for (const auto& b : run.backends)
    if (b != "kernel") others.push_back(b);
  char tmpl[] = "/tmp/sysvmq-bench-plot.XXXXXX";
  if (!::mkdtemp(tmpl)) {
    why = "mkdtemp failed";
    return false;
  }
  const std::string dir = tmpl;
  {
    // One cluster per figure, one bar per backend: the kernel's figure over the backend's
    // where lower is better, so that every bar reads the same way (above 1: better than
    // the kernel). MB/s is left out: its ratio is msg/s's by construction.
    std::ofstream data(dir + "/ratios.dat");
    for (const auto& row : run.rows) {
      if (row.key == "mbs") continue;
      data << '"' << row.workload << ' ' << row.label << ", " << row.figure << '"';
      for (const auto& b : others) {
        auto r = ratio(row, b);
        if (r && !row.higher_better) r = *r > 0 ? std::optional<double>(1 / *r) : std::nullopt;
        data << ' ' << (r ? std::to_string(*r) : std::string("NaN"));
      }
      data << "\n";
    }
    const bool svg = path.size() >= 4 && path.compare(path.size() - 4, 4, ".svg") == 0;
    std::ofstream gp(dir + "/ratios.gp");
    gp << (svg ? "set terminal svg size 1400,800 dynamic font 'sans,11'\n"
               : "set terminal pngcairo size 1400,800 font 'sans,10'\n")
       << "set output '" << path << "'\n"
       << "set title \"sysvmq-bench: each backend against the kernel (1 = as good as the "
          "kernel; above 1 better, below 1 worse)\\nmsg/s as is; latency, CPU and memory "
          "inverted (the kernel's figure over the backend's); median of "
       << run.reps << " repetitions\"\n"
       << "set style data histograms\nset style histogram clustered gap 1\n"
       << "set style fill solid 0.8 border -1\nset boxwidth 0.9\n"
       << "set logscale y\nset format y '%g'\nset grid ytics\n"
       << "set xtics rotate by 50 right font ',9' nomirror\nset bmargin 16\nset lmargin 16\n"
       << "set ylabel 'times the kernel (log scale)'\nset key outside top center horizontal\n"
       << "plot ";
    for (std::size_t i = 0; i < others.size(); ++i) {
      gp << (i ? ", " : "") << "'" << dir << "/ratios.dat' using " << i + 2
         << (i == 0 ? ":xtic(1)" : "") << " title '" << others[i] << "'";
    }
    gp << ", 1 notitle lt -1 lw 1.5\n";
  }
  const std::string command = "gnuplot '" + dir + "/ratios.gp'";
  const int rc = std::system(command.c_str());
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  if (rc != 0) {
    why = "gnuplot failed (status " + std::to_string(rc) + ")";
    return false;
  }
  return true;
}

}  // namespace sysvmq::bench

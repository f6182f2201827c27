// report.hpp: the figures of a run — each row one figure of one workload case, with every
// backend's repetitions — and the three ways out: the table, JSON, a gnuplot chart.
// Not here: running anything (workloads.hpp, main.cpp).
#pragma once

#include <map>
#include <ostream>
#include <string>
#include <vector>

namespace sysvmq::bench {

struct Row {
  std::string workload;  // stream, pingpong, ...
  std::string label;     // the case: "4:4 256 B"
  std::string key;       // the metric key the workload reports ("msgs")
  std::string figure;    // as printed: "msg/s"
  bool higher_better = true;
  std::map<std::string, std::vector<double>> samples;  // backend -> one per repetition
};

struct Summary {
  double median = 0, min = 0, max = 0;
};
Summary summarize(std::vector<double> v);

struct Run {
  std::vector<std::string> backends;  // in order; "kernel" first
  std::vector<std::string> notes;     // printed above the table ("redis: not installed")
  std::string header;                 // the first line: machine, reps
  int reps = 0;
  std::vector<Row> rows;
};

void print_table(std::ostream& out, const Run& run);
void print_json(std::ostream& out, const Run& run);
// True when `program` is an executable in one of $PATH's directories.
bool on_path(const std::string& program);

// Draws each backend against the kernel per row with gnuplot, every bar oriented so that
// above 1 is better (lower-is-better ratios inverted; MB/s, msg/s's twin, left out); SVG
// when `path` ends in .svg, else PNG. false and `why` when gnuplot is missing or fails.
bool plot(const Run& run, const std::string& path, std::string& why);

}  // namespace sysvmq::bench

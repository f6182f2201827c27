#include "session.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/error.hpp>

#include "daemon/server/server.hpp"

namespace sysvmq::server {

namespace {
constexpr std::size_t kReadChunk = 64 * 1024;
// Bytes read per wake-up before yielding to other sessions.
constexpr std::size_t kReadBudget = 1024 * 1024;

std::size_t approx_size(const proto::Reply& r) {
  if (auto* m = std::get_if<proto::MsgrcvReply>(&r)) return 32 + m->text.size();
  if (auto* a = std::get_if<proto::AdminReply>(&r)) return 32 + a->json.size();
  return 128;
}

std::shared_ptr<spdlog::logger> log() {
  static auto l = spdlog::get("session") ? spdlog::get("session") : spdlog::default_logger();
  return l;
}
}  // namespace

Session::Session(Server& server, Socket socket, std::uint64_t id, PeerCredentials peer,
                 std::uint32_t max_frame_bytes, std::size_t max_output_bytes)
    : server_(server),
      socket_(std::move(socket)),
      id_(id),
      peer_(std::move(peer)),
      decoder_(max_frame_bytes),
      max_output_bytes_(max_output_bytes) {}

std::string Session::describe() const {
  return "uid=" + std::to_string(peer_.caller.uid) +
         " pid=" + std::to_string(peer_.caller.process.host_pid);
}

void Session::start() {
  boost::system::error_code ec;
  socket_.non_blocking(true, ec);
  if (ec) {
    close("cannot make the socket non-blocking: " + ec.message());
    return;
  }
  arm_read();
}

void Session::arm_read() {
  if (read_armed_ || closed_ || closing_after_writes_) return;
  if (queued_bytes_ > max_output_bytes_) return;  // resumes when flush() catches up
  read_armed_ = true;
  socket_.async_wait(Socket::wait_read, [self = shared_from_this()](boost::system::error_code ec) {
    self->read_armed_ = false;
    if (self->closed_) return;
    if (ec) {
      self->close("wait failed: " + ec.message());
      return;
    }
    self->drain_input();
    self->arm_read();
  });
}

void Session::drain_input() {
  if (closed_ || closing_after_writes_ || draining_) return;
  draining_ = true;
  std::size_t budget = kReadBudget;
  while (!closed_ && budget > 0) {
    boost::system::error_code ec;
    const auto room = decoder_.prepare(kReadChunk);
    const std::size_t n = socket_.read_some(boost::asio::buffer(room.data(), room.size()), ec);
    if (ec == boost::asio::error::would_block || ec == boost::asio::error::try_again) break;
    if (ec == boost::asio::error::eof) {
      draining_ = false;
      close("peer closed the connection");
      return;
    }
    if (ec) {
      draining_ = false;
      close("read failed: " + ec.message());
      return;
    }
    decoder_.commit(n);
    budget -= std::min(budget, n);
    proto::FrameDecoder::Frame frame;
    std::string why;
    for (;;) {
      const auto st = decoder_.next(frame, why);
      if (st == proto::FrameDecoder::Status::need_more) break;
      if (st == proto::FrameDecoder::Status::bad) {
        draining_ = false;
        close("bad frame: " + why, true);
        return;
      }
      server_.on_frame(*this, frame.header, frame.body);
      if (closed_ || closing_after_writes_) break;
    }
    if (closing_after_writes_) break;
  }
  draining_ = false;
}

void Session::send(std::uint64_t request_id, proto::Reply reply, int restore_msqid) {
  if (closed_) {
    // Nobody will read it; a received message goes back (8.3).
    if (restore_msqid >= 0) {
      if (auto* m = std::get_if<proto::MsgrcvReply>(&reply); m && m->status == 0) {
        std::deque<std::pair<int, core::Message>> unsent;
        unsent.emplace_back(restore_msqid, core::Message{m->mtype, std::move(m->text)});
        server_.on_session_closed(*this, std::move(unsent));
      }
    }
    return;
  }
  queued_bytes_ += approx_size(reply);
  out_.push_back(Outgoing{request_id, std::move(reply), restore_msqid});
  flush();
}

void Session::flush() {
  while (!closed_) {
    if (written_ == writing_.size()) {
      writing_.clear();
      written_ = 0;
      if (out_.empty()) break;
      Outgoing& o = out_.front();
      queued_bytes_ -= std::min(queued_bytes_, approx_size(o.reply));
      proto::encode_reply(o.request_id, o.reply, writing_);
      out_.pop_front();
    }
    boost::system::error_code ec;
    const std::size_t n = socket_.write_some(
        boost::asio::buffer(writing_.data() + written_, writing_.size() - written_), ec);
    if (ec == boost::asio::error::would_block || ec == boost::asio::error::try_again) {
      arm_write();
      return;
    }
    if (ec) {
      close("write failed: " + ec.message());
      return;
    }
    written_ += n;
  }
  if (!closed_ && queued_bytes_ <= max_output_bytes_ / 2) arm_read();
  maybe_finish_close();
}

void Session::arm_write() {
  if (write_armed_ || closed_) return;
  write_armed_ = true;
  socket_.async_wait(Socket::wait_write, [self = shared_from_this()](boost::system::error_code ec) {
    self->write_armed_ = false;
    if (self->closed_) return;
    if (ec) {
      self->close("wait failed: " + ec.message());
      return;
    }
    self->flush();
  });
}

void Session::close_after_writes() {
  closing_after_writes_ = true;
  flush();
}

void Session::maybe_finish_close() {
  if (closing_after_writes_ && !closed_ && out_.empty() && written_ == writing_.size())
    close("daemon stopping");
}

void Session::close(const std::string& reason, bool fault) {
  if (closed_) return;
  closed_ = true;
  auto self = shared_from_this();  // keep alive through the server's bookkeeping
  if (fault) {
    log()->warn("session {} closed: {} ({})", id_, reason, describe());
  } else {
    log()->debug("session {} closed: {} ({})", id_, reason, describe());
  }
  boost::system::error_code ec;
  socket_.close(ec);
  // Replies never started: a received message in one of them was never seen by anyone.
  std::deque<std::pair<int, core::Message>> unsent;
  for (auto& o : out_) {
    auto* m = std::get_if<proto::MsgrcvReply>(&o.reply);
    if (o.restore_msqid >= 0 && m && m->status == 0)
      unsent.emplace_back(o.restore_msqid, core::Message{m->mtype, std::move(m->text)});
  }
  out_.clear();
  queued_bytes_ = 0;
  server_.cancel_parked(*this);
  server_.on_session_closed(*this, std::move(unsent));
}

}  // namespace sysvmq::server

#include "session.hpp"

#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <cstring>

#include <boost/asio/error.hpp>
#include <boost/asio/post.hpp>

#include "daemon/server/server.hpp"

namespace sysvmq::server {

namespace {
constexpr std::size_t kReadChunk = 64 * 1024;
// Bytes read per wake-up before yielding to other sessions.
constexpr std::size_t kReadBudget = 1024 * 1024;
// Bytes read (and not run) from a ring client's socket while its replies are over
// max_output_bytes: enough for its DOORBELLs, bounded for one that floods.
constexpr std::size_t kPausedReadCap = 64 * 1024;

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
                 std::uint32_t max_frame_bytes, std::size_t max_output_bytes,
                 std::chrono::milliseconds frame_deadline)
    : server_(server),
      socket_(std::move(socket)),
      id_(id),
      peer_(std::move(peer)),
      decoder_(max_frame_bytes),
      max_output_bytes_(max_output_bytes),
      frame_deadline_(frame_deadline),
      frame_timer_(socket_.get_executor()),
      ring_decoder_(max_frame_bytes) {}

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

bool Session::output_full() {
  if (queued_bytes_ <= max_output_bytes_) return false;
  if (!input_paused_) {
    input_paused_ = true;
    ++server_.counters().output_pauses;
    if (log_limit_once(LimitLogged::output))
      log()->warn("session {}: {} bytes of replies unread, more than max_output_bytes {}; "
                  "reading paused until the client reads ({})",
                  id_, queued_bytes_, max_output_bytes_, describe());
  }
  return true;
}

void Session::maybe_resume() {
  // Half the bound: a client that reads a little at a time is not woken per reply.
  if (!input_paused_ || resume_posted_ || closed_ || queued_bytes_ > max_output_bytes_ / 2)
    return;
  resume_posted_ = true;
  boost::asio::post(socket_.get_executor(), [self = shared_from_this()] { self->resume_input(); });
}

void Session::resume_input() {
  resume_posted_ = false;
  if (closed_ || closing_after_writes_ || queued_bytes_ > max_output_bytes_ / 2) return;
  input_paused_ = false;
  // Frames read before the pause first: the socket may have nothing more to say.
  if (!draining_) {
    draining_ = true;
    const bool ran = run_socket_frames();
    draining_ = false;
    watch_partial_frame(ran);
  }
  if (ring_ && !closed_) service_ring();
  drain_input();
  arm_read();
}

void Session::watch_partial_frame(bool new_partial) {
  if (frame_deadline_.count() == 0 || closed_) return;
  if (decoder_.pending_bytes() == 0) {
    if (frame_timer_armed_) frame_timer_.cancel();  // once per partial frame, not per frame
    return;
  }
  if (new_partial) partial_since_ = std::chrono::steady_clock::now();
  if (frame_timer_armed_) return;  // its handler looks at partial_since_
  frame_timer_armed_ = true;
  frame_timer_.expires_at(partial_since_ + frame_deadline_);
  frame_timer_.async_wait(
      [self = shared_from_this()](boost::system::error_code ec) { self->on_frame_deadline(ec); });
}

void Session::on_frame_deadline(boost::system::error_code ec) {
  frame_timer_armed_ = false;
  if (closed_ || closing_after_writes_ || decoder_.pending_bytes() == 0) return;
  const auto now = std::chrono::steady_clock::now();
  // While the daemon itself does not read (output_full), the client is not late.
  if (input_paused_) partial_since_ = now;
  if (ec == boost::asio::error::operation_aborted || input_paused_ ||
      now < partial_since_ + frame_deadline_) {
    frame_timer_armed_ = true;
    frame_timer_.expires_at(partial_since_ + frame_deadline_);
    frame_timer_.async_wait(
        [self = shared_from_this()](boost::system::error_code e) { self->on_frame_deadline(e); });
    return;
  }
  ++server_.counters().frame_deadline_closes;
  close("frame not finished within frame_deadline_ms " + std::to_string(frame_deadline_.count()) +
            " (" + std::to_string(decoder_.pending_bytes()) + " bytes of it arrived)",
        true);
}

void Session::arm_read() {
  if (read_armed_ || closed_ || closing_after_writes_) return;
  if (output_full()) {
    // Resumes when flush() catches up. A ring client tells of room it made in its
    // completion ring only by a DOORBELL on the socket, so its socket is still read
    // meanwhile — up to kPausedReadCap, nothing run — and each read looks at the rings.
    if (!ring_ || decoder_.pending_bytes() >= kPausedReadCap) return;
  }
  read_armed_ = true;
  socket_.async_wait(Socket::wait_read, [self = shared_from_this()](boost::system::error_code ec) {
    self->read_armed_ = false;
    if (self->closed_) return;
    if (ec) {
      self->close("wait failed: " + ec.message());
      return;
    }
    if (self->input_paused_) {
      self->read_while_paused();
    } else {
      self->drain_input();
    }
    self->arm_read();
  });
}

void Session::read_while_paused() {
  while (!closed_ && decoder_.pending_bytes() < kPausedReadCap) {
    boost::system::error_code ec;
    const auto room = decoder_.prepare(kReadChunk);
    const std::size_t n = socket_.read_some(boost::asio::buffer(room.data(), room.size()), ec);
    if (ec == boost::asio::error::would_block || ec == boost::asio::error::try_again) break;
    if (ec) {
      close(ec == boost::asio::error::eof ? "peer closed the connection" : "read failed: " + ec.message());
      return;
    }
    decoder_.commit(n);
  }
  if (!closed_) service_ring();  // writes the completions that now fit; may resume
}

void Session::drain_input() {
  if (closed_ || closing_after_writes_ || draining_) return;
  draining_ = true;
  std::size_t budget = kReadBudget;
  while (!closed_ && budget > 0 && !output_full()) {
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
    const bool was_empty = decoder_.pending_bytes() == 0;
    decoder_.commit(n);
    budget -= std::min(budget, n);
    const bool ran = run_socket_frames();
    // A part of a frame that began with this read starts the deadline's clock.
    watch_partial_frame(ran || was_empty);
    if (closing_after_writes_) break;
  }
  draining_ = false;
}

bool Session::run_socket_frames() {
  proto::FrameDecoder::Frame frame;
  std::string why;
  bool ran = false;
  while (!closed_ && !closing_after_writes_) {
    // Whatever the client published in its ring before these socket bytes comes first.
    if (ring_has_input()) service_ring();
    if (closed_ || closing_after_writes_) break;
    // A client that pipelines requests and never reads: its next frame waits (within one
    // read, too — a read of MSG_COPY requests would otherwise multiply into replies).
    if (output_full()) break;
    const auto st = decoder_.next(frame, why);
    if (st == proto::FrameDecoder::Status::need_more) break;
    if (st == proto::FrameDecoder::Status::bad) {
      ++server_.counters().sessions_closed_bad_input;
      if (decoder_.too_large()) ++server_.counters().frames_too_large;  // max_frame_bytes
      close("bad frame: " + why, true);
      return ran;
    }
    ran = true;
    server_.on_frame(*this, frame.header, frame.body, Channel::socket);
  }
  return ran;
}

bool Session::service_ring(bool all_published) {
  if (!ring_ || closed_ || servicing_ring_) return false;
  if (closing_after_writes_ && !all_published) return false;
  servicing_ring_ = true;
  running_all_published_ = all_published;
  bool work = false;
  if (!ring_out_.empty()) {
    const std::size_t before = ring_out_.size();
    flush_ring();
    work = ring_out_.size() != before;
  }
  // At most two rings' worth per call, and none while replies pile up unread: a client
  // that keeps publishing cannot hold the daemon's thread, nor grow its memory.
  for (int round = 0; (round < 2 || all_published) && !closed_ && ring_ &&
                      (all_published || (!closing_after_writes_ && queued_bytes_ <= max_output_bytes_)) &&
                      ring_->has_input();
       ++round) {
    std::size_t copied = 0;
    if (!ring_->drain(ring_decoder_, copied)) {
      servicing_ring_ = false;
      running_all_published_ = false;
      close("submission ring tail out of range", true);
      return true;
    }
    if (copied == 0) break;  // the decoder is bad: run_frames reports it
    work = true;
    run_ring_frames();
    if (all_published) break;  // one read takes everything published before it
  }
  if (!closed_) run_ring_frames();  // a bad decoder closes here
  servicing_ring_ = false;
  running_all_published_ = false;
  return work;
}

void Session::run_ring_frames() {
  // Unlike the socket's, ring frames run even while closing after writes: a graceful stop
  // applies what was sent on credit, and answers the rest like any parked call.
  proto::FrameDecoder::Frame frame;
  std::string why;
  while (!closed_) {
    // Replies pile up unread: the rest waits in the decoder (at most two rings' worth),
    // except when every published entry must run now (credit being revoked).
    if (!running_all_published_ && !credit_only_ && !closing_after_writes_ && output_full())
      break;
    const auto st = ring_decoder_.next(frame, why);
    if (st == proto::FrameDecoder::Status::need_more) break;
    if (st == proto::FrameDecoder::Status::bad) {
      close("bad frame in submission ring: " + why, true);
      return;
    }
    if ((credit_only_ || closing_after_writes_) && (frame.header.flags & proto::kFlagOnCredit) == 0)
      continue;
    server_.on_frame(*this, frame.header, frame.body, Channel::ring);
  }
}

void Session::attach_ring(std::unique_ptr<RingChannel> ring, ReplyTo to) {
  const auto& l = ring->layout();
  proto::RingSetupReply reply{0,           l.region_bytes, l.sq_offset,  l.sq_capacity,
                              l.cq_offset, l.cq_capacity,  l.lq_offset,  l.lq_capacity};
  ring_ = std::move(ring);
  queued_bytes_ += approx_size(reply);
  out_.push_back(Outgoing{to.request_id, reply, -1, /*with_ring_fd=*/true});
  flush();
}

void Session::flush_ring() {
  bool wrote = false;
  proto::Bytes frame;
  if (std::uint64_t head = 0; ring_ && !ring_unread_.empty() && ring_->cq_read_up_to(head)) {
    while (!ring_unread_.empty() && ring_unread_.front().first <= head) ring_unread_.pop_front();
  }
  while (!closed_ && ring_ && !ring_out_.empty()) {
    Outgoing& o = ring_out_.front();
    frame.clear();
    proto::encode_reply(o.request_id, o.reply, frame);
    bool broken = false;
    if (!ring_->write_frame(frame, broken)) {
      if (broken) close("completion ring head out of range", true);
      break;
    }
    queued_bytes_ -= std::min(queued_bytes_, approx_size(o.reply));
    if (o.restore_msqid >= 0) ring_unread_.emplace_back(ring_->cq_written(), std::move(o));
    ring_out_.pop_front();
    wrote = true;
  }
  if (wrote) maybe_resume();
  // The client said it sleeps until told: one WAKE notice on the socket.
  if (wrote && !closed_ && ring_->take_client_waiting()) {
    queued_bytes_ += approx_size(proto::WakeNotice{});
    out_.push_back(Outgoing{0, proto::WakeNotice{}, -1});
    flush();
  }
}

void Session::send(ReplyTo to, proto::Reply reply, int restore_msqid) {
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
  // A frame the completion ring could never hold goes by the socket; the client waits on
  // both.
  if (to.channel == Channel::ring && ring_ && approx_size(reply) + proto::kHeaderBytes + 64 <= ring_->cq_capacity()) {
    ring_out_.push_back(Outgoing{to.request_id, std::move(reply), restore_msqid});
    flush_ring();
    return;
  }
  out_.push_back(Outgoing{to.request_id, std::move(reply), restore_msqid});
  flush();
}

void Session::flush() {
  while (!closed_) {
    if (written_ == writing_.size()) {
      writing_.clear();
      written_ = 0;
      writing_from_.reset();
      if (out_.empty()) break;
      Outgoing& o = out_.front();
      queued_bytes_ -= std::min(queued_bytes_, approx_size(o.reply));
      proto::encode_reply(o.request_id, o.reply, writing_);
      writing_with_fd_ = o.with_ring_fd;
      if (o.restore_msqid >= 0) writing_from_ = std::move(o);
      out_.pop_front();
    }
    boost::system::error_code ec;
    const std::size_t n =
        writing_with_fd_
            ? write_with_fd(writing_.data() + written_, writing_.size() - written_, ec)
            : socket_.write_some(
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
  if (!closed_ && queued_bytes_ <= max_output_bytes_ / 2) {
    if (input_paused_) {
      maybe_resume();
    } else {
      arm_read();
    }
  }
  maybe_finish_close();
}

std::size_t Session::write_with_fd(const std::byte* data, std::size_t n,
                                   boost::system::error_code& ec) {
  // The descriptor rides on the frame's first byte; once that is written it is the
  // client's, and the daemon's copy is closed (the mapping stays).
  iovec iov{const_cast<std::byte*>(data), n};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  const int fd = ring_ ? ring_->fd() : -1;
  std::memcpy(CMSG_DATA(c), &fd, sizeof fd);
  const ssize_t k = ::sendmsg(socket_.native_handle(), &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
  if (k < 0) {
    ec = boost::system::error_code(errno, boost::system::system_category());
    if (errno == EAGAIN || errno == EWOULDBLOCK) ec = boost::asio::error::would_block;
    return 0;
  }
  writing_with_fd_ = false;
  if (ring_) ring_->close_fd();
  return static_cast<std::size_t>(k);
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
  if (closed_ || credit_only_) return;
  // Messages sent on credit were complete when published: apply them before anything
  // of this connection goes (a client that exits right after msgsnd loses nothing).
  if (ring_ && !fault) {
    // The credit goes first: a send the client publishes after this compare-and-swap
    // fails to pay and goes by a call, never into a ring that nobody drains again.
    // (Should a client fighting over the word keep it from landing, the drain below
    // still runs all that was published.)
    proto::ring::Credit left;
    ring_->revoke(left);
    credit_only_ = true;
    servicing_ring_ = false;
    service_ring(/*all_published=*/true);
    credit_only_ = false;
    if (closed_) return;
  }
  closed_ = true;
  auto self = shared_from_this();  // keep alive through the server's bookkeeping
  if (frame_timer_armed_) frame_timer_.cancel();
  if (fault) {
    log()->warn("session {} closed: {} ({})", id_, reason, describe());
  } else {
    log()->debug("session {} closed: {} ({})", id_, reason, describe());
  }
  boost::system::error_code ec;
  socket_.close(ec);
  // Replies never started or never finished (a write that failed because the client
  // died, or a frame cut short): a received message in one of them was never seen by
  // anyone. The one being written was taken from the queue first.
  std::deque<std::pair<int, core::Message>> unsent;
  // Only when the client went away: after a close the daemon chose (a stop, a fault) a
  // live client may still read its completion ring, and the message must not be both
  // read and queued again.
  const bool client_went_away = !fault && !closing_after_writes_;
  if (std::uint64_t head = 0; ring_ && client_went_away && ring_->cq_read_up_to(head)) {
    for (auto& [end, o] : ring_unread_) {
      auto* m = std::get_if<proto::MsgrcvReply>(&o.reply);
      if (end > head && m && m->status == 0)
        unsent.emplace_back(o.restore_msqid, core::Message{m->mtype, std::move(m->text)});
    }
  }
  ring_unread_.clear();
  if (writing_from_ && written_ < writing_.size()) {
    auto* m = std::get_if<proto::MsgrcvReply>(&writing_from_->reply);
    if (m && m->status == 0)
      unsent.emplace_back(writing_from_->restore_msqid,
                          core::Message{m->mtype, std::move(m->text)});
  }
  writing_from_.reset();
  for (auto* queue : {&ring_out_, &out_}) {
    for (auto& o : *queue) {
      auto* m = std::get_if<proto::MsgrcvReply>(&o.reply);
      if (o.restore_msqid >= 0 && m && m->status == 0)
        unsent.emplace_back(o.restore_msqid, core::Message{m->mtype, std::move(m->text)});
    }
    queue->clear();
  }
  queued_bytes_ = 0;
  server_.release_credit(*this);
  server_.release_lease(*this);
  ring_.reset();  // unmaps the daemon's view; the client's is its own
  server_.cancel_parked(*this);
  server_.on_session_closed(*this, std::move(unsent));
}

}  // namespace sysvmq::server

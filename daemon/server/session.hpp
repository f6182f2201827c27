// session.hpp: one client connection — non-blocking reads into a FrameDecoder, frames
// handed to the Server, replies written in order, back-pressure, and a clean close that
// withdraws the connection's parked calls.
// Not here: what a request means (dispatcher.cpp), accepting (server.cpp).
// Touched only on the daemon's io thread.
#pragma once

#include <boost/asio/local/stream_protocol.hpp>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>

#include "daemon/core/outcome.hpp"
#include "daemon/server/peer_credentials.hpp"
#include "proto/codec.hpp"

namespace sysvmq::server {

class Server;

// A call parked in the core on behalf of this connection.
struct ParkedCall {
  core::WaiterId waiter;
  proto::Opcode opcode;
};

class Session : public std::enable_shared_from_this<Session> {
 public:
  using Socket = boost::asio::local::stream_protocol::socket;

  Session(Server& server, Socket socket, std::uint64_t id, PeerCredentials peer,
          std::uint32_t max_frame_bytes, std::size_t max_output_bytes);

  void start();

  // Queue a reply. `restore_msqid` >= 0 marks a msgrcv reply whose message goes back to
  // that queue if the connection dies before any byte of the reply was written (8.3).
  void send(std::uint64_t request_id, proto::Reply reply, int restore_msqid = -1);

  // Read whatever the socket holds now and run every complete frame. Used by the read
  // handler and by Server::settle_pending_input (SEMANTICS.md 8.2).
  void drain_input();

  // Close with one log line: cancels parked calls, restores unsent messages. A `fault`
  // (bad input from the client) is logged as a warning, an ordinary close at debug.
  void close(const std::string& reason, bool fault = false);
  // Graceful stop: stop reading, close once every queued reply is written.
  void close_after_writes();

  bool closed() const { return closed_; }
  bool hello_done() const { return hello_done_; }
  void set_hello_done() { hello_done_ = true; }
  std::uint64_t id() const { return id_; }
  const PeerCredentials& peer() const { return peer_; }
  std::unordered_map<std::uint64_t, ParkedCall>& parked() { return parked_; }
  std::string describe() const;  // "uid=1000 pid=4242", for log lines

  // The peer's identity with `caps` instead of its verified capabilities (a subset, per
  // call: Rule 5.4.6). Kept between calls: a thread sends the same set call after call,
  // so the message path copies no Caller.
  const core::Caller& narrowed_caller(core::Capabilities caps) {
    if (!narrowed_ || narrowed_->caps != caps) {
      narrowed_ = peer_.caller;
      narrowed_->caps = caps;
    }
    return *narrowed_;
  }

 private:
  struct Outgoing {
    std::uint64_t request_id;
    proto::Reply reply;
    int restore_msqid;
  };

  void arm_read();
  void flush();
  void arm_write();
  void maybe_finish_close();

  Server& server_;
  Socket socket_;
  std::uint64_t id_;
  PeerCredentials peer_;
  proto::FrameDecoder decoder_;
  std::size_t max_output_bytes_;

  std::deque<Outgoing> out_;         // replies not yet started
  proto::Bytes writing_;             // the reply being written
  std::size_t written_ = 0;          // bytes of writing_ already sent
  std::size_t queued_bytes_ = 0;     // approximate bytes in out_ (back-pressure)
  std::unordered_map<std::uint64_t, ParkedCall> parked_;  // request_id -> call
  std::optional<core::Caller> narrowed_;                  // see narrowed_caller()

  bool hello_done_ = false;
  bool read_armed_ = false;
  bool write_armed_ = false;
  bool closing_after_writes_ = false;
  bool closed_ = false;
  bool draining_ = false;
};

}  // namespace sysvmq::server

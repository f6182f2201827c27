// ring_channel.hpp: the daemon's end of one connection's shared-memory rings — creates
// the sealed memfd region, reads the submission ring (untrusted: ring.hpp checks every
// index) and writes the completion ring, and keeps the two wake-up words.
// Not here: what the frames mean (dispatcher.cpp) or when rings are polled (server.cpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "proto/codec.hpp"
#include "proto/ring.hpp"

namespace sysvmq::server {

class RingChannel {
 public:
  // A fresh region with two rings of `ring_bytes` (ring::layout_for). nullptr with `why`
  // when the kernel refuses (memfd_create, ftruncate, seals or mmap).
  static std::unique_ptr<RingChannel> create(std::uint64_t ring_bytes, std::string& why);
  ~RingChannel();
  RingChannel(const RingChannel&) = delete;
  RingChannel& operator=(const RingChannel&) = delete;

  const proto::ring::Layout& layout() const { return layout_; }
  // The memfd, for SCM_RIGHTS; the session closes it once it has been sent.
  int fd() const { return fd_; }
  void close_fd();

  // Moves every published submission byte into `into`. false when the client broke the
  // ring (an impossible tail).
  bool drain(proto::FrameDecoder& into, std::size_t& copied);
  bool has_input() const { return sq_.has_input(); }

  // Appends one whole frame to the completion ring and publishes it; false when it does
  // not fit now. `broken` is set when the client's head is impossible.
  bool write_frame(std::span<const std::byte> frame, bool& broken);
  std::uint64_t cq_capacity() const { return layout_.cq_capacity; }
  // The completion ring's index just past the last frame written, and how far the
  // client has read it (its head); false when that head is impossible.
  std::uint64_t cq_written() const { return cq_.published(); }
  bool cq_read_up_to(std::uint64_t& head) const;

  // The wake-up protocol (PROTOCOL.md "Waiting"). The daemon says it is going idle; the
  // caller then re-checks has_input() before really sleeping.
  void set_daemon_idle(bool idle);
  // True (once) when the client said it sleeps until a WAKE: the daemon owes it one.
  bool take_client_waiting();

  // Send credit (PROTOCOL.md "Send credit"). grant() names the queue and what the grant
  // depends on in the client's identity, and adds to what the client holds
  // (saturating); revoke() takes all that is left and says how much. Both
  // false when a client fighting over the word keeps the compare-and-swap from landing.
  // The caller keeps the authoritative ledger; the shared word is only the client's view.
  bool grant(int msqid, std::uint32_t msgmax, proto::ring::Basis basis,
             proto::ring::Credit add);
  bool revoke(proto::ring::Credit& left);

  // Lending (PROTOCOL.md "Lent messages"). The daemon keeps, per lease, the bytes of
  // every lent entry; the client's claims move the head in the claim word.
  // A new lease: the lending ring restarts at the current head with a fresh epoch,
  // unrevoked, on `basis` (what it depends on in the client's identity); returns that
  // head. The caller revoked any earlier lease first.
  std::uint64_t start_lease(proto::ring::Basis basis);
  // The head as the client's claims have moved it (low 32 bits), or false when the word
  // is impossible: another epoch, a revoked lease the daemon did not revoke, a head
  // behind what was settled or beyond what was lent.
  bool claimed_head(std::uint64_t settled_head, std::uint64_t& head) const;
  // Appends one lent frame and publishes it; false when it does not fit now.
  bool lend(std::span<const std::byte> frame);
  // Room in the lending ring now; false when the client's head is impossible.
  bool lq_free(std::uint64_t& out) const { return lq_.free_bytes(out); }
  // Sets the revoked bit; `head` is where the client's claims stood at that instant.
  // false when a client fighting over the word keeps the compare-and-swap from landing.
  bool revoke_lease(std::uint64_t& head);

 private:
  RingChannel() = default;

  proto::ring::Layout layout_;
  int fd_ = -1;
  std::byte* region_ = nullptr;
  proto::ring::RingReader sq_;
  proto::ring::RingWriter cq_;
  proto::ring::RingWriter lq_;
  std::uint64_t lq_epoch_ = 0;
};

}  // namespace sysvmq::server

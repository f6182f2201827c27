#include "server.hpp"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sched.h>
#include <unistd.h>
#include <sys/socket.h>
#include <time.h>

#include <boost/asio/post.hpp>
#include <utility>

#include "daemon/core/snapshot.hpp"

namespace sysvmq::server {

namespace {
// How long the ring poller keeps polling after the last ring work before it marks the
// rings idle and sleeps (bench/experiments/wait-strategy.md has the measurements).
constexpr auto kRingActiveWindow = std::chrono::microseconds(50);

std::shared_ptr<spdlog::logger> log() {
  static auto l = spdlog::get("server") ? spdlog::get("server") : spdlog::default_logger();
  return l;
}
}  // namespace

core::TimePoint now_coarse() {
  // The kernel stamps msqid_ds times with coarse real-time seconds (Rule 6.1).
  struct timespec ts {};
  ::clock_gettime(CLOCK_REALTIME_COARSE, &ts);
  return core::TimePoint{std::chrono::seconds{ts.tv_sec}};
}

Server::Server(boost::asio::io_context& io, int listen_fd, const ServerOptions& options)
    : io_(io),
      acceptor_(io, boost::asio::local::stream_protocol(), listen_fd),
      options_(options),
      registry_(options.limits),
      snapshot_timer_(io),
      started_(std::chrono::steady_clock::now()),
      reserve_fd_(::open("/dev/null", O_RDONLY | O_CLOEXEC)) {}

Server::~Server() {
  if (reserve_fd_ >= 0) ::close(reserve_fd_);
}

void Server::start() { accept_next(); }

void Server::accept_next() {
  if (stopping_) return;
  acceptor_.async_accept([this](boost::system::error_code ec, Session::Socket socket) {
    if (stopping_) return;
    if (ec) {
      if (ec == boost::asio::error::operation_aborted) return;
      // EMFILE/ENFILE and friends leave the connection in the backlog and the listening
      // socket readable. No accept is pending until the timer fires (and Asio's epoll
      // registration is edge-triggered), so this retries at most every 100 ms: no spin.
      // Logged once per episode, not on each retry; the counter says how many retries.
      ++counters_.accept_failures;
      if (!accept_failing_) {
        accept_failing_ = true;
        log()->warn("accept failed: {}; retrying every 100 ms until it works", ec.message());
      }
      auto timer = std::make_shared<boost::asio::steady_timer>(io_, std::chrono::milliseconds(100));
      timer->async_wait([this, timer](boost::system::error_code) { accept_next(); });
      return;
    }
    if (accept_failing_) {
      accept_failing_ = false;
      log()->info("accept works again after {} failure(s) in all", counters_.accept_failures);
    }
    ++counters_.connections_total;
    if (refuse_if_over_limits(socket)) {
      accept_next();
      return;
    }
    PeerCredentials peer;
    std::string why;
    bool known = read_peer_credentials(socket.native_handle(), options_.credentials, peer, why);
    if (!known && peer.starved && reserve_fd_ >= 0) {
      // Accepted into the last free descriptor: the reserve makes room to read /proc.
      ::close(reserve_fd_);
      peer = PeerCredentials{};
      known = read_peer_credentials(socket.native_handle(), options_.credentials, peer, why);
      reserve_fd_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    }
    if (!known) {
      ++counters_.connections_refused;
      if (!peer.starved || !starved_logged_) log()->warn("connection dropped: {}", why);
      starved_logged_ = starved_logged_ || peer.starved;
      boost::system::error_code ignored;
      socket.close(ignored);
      accept_next();
      return;
    }
    starved_logged_ = false;
    const std::uint64_t id = next_session_id_++;
    auto session = std::make_shared<Session>(*this, std::move(socket), id, std::move(peer),
                                             options_.max_frame_bytes, options_.max_output_bytes,
                                             options_.frame_deadline);
    sessions_.emplace(id, session);
    const std::uint32_t uid = session->peer().caller.uid;
    ++connections_by_uid_[uid];
    total_refusal_logged_ = false;  // the next refusal starts a new episode: logged again
    uid_refusal_logged_.erase(uid);
    log()->debug("session {} opened ({})", id, session->describe());
    session->start();
    accept_next();
  });
}

void Server::enable_snapshots(SnapshotWriter* writer, SnapshotInfo info) {
  snapshot_writer_ = writer;
  snapshot_info_ = std::move(info);
  activity_at_last_snapshot_ = activity();
  if (writer != nullptr && snapshot_info_.interval.count() > 0) arm_snapshot_timer();
}

void Server::arm_snapshot_timer() {
  snapshot_timer_.expires_after(snapshot_info_.interval);
  snapshot_timer_.async_wait([this](boost::system::error_code ec) {
    if (ec || stopping_) return;
    take_periodic_snapshot();
    arm_snapshot_timer();
  });
}

void Server::take_periodic_snapshot() {
  // Queues change only through calls (socket or ring), settled claims on lent messages
  // and restored replies: when none of those happened, the last snapshot still holds.
  if (activity() == activity_at_last_snapshot_) return;
  activity_at_last_snapshot_ = activity();
  const auto now = core::to_time_t(now_coarse());
  snapshot_writer_->submit(core::encode_snapshot(registry_, now), now);
}

void Server::close_remaining_sessions() {
  std::vector<std::shared_ptr<Session>> all;
  for (auto& [id, s] : sessions_) all.push_back(s);
  for (auto& s : all) s->close("the daemon is exiting");
}

namespace {
// PROTOCOL.md "HELLO": a refused client learns why before the close — a HELLO reply it
// has not asked for yet, request_id 0, status EAGAIN ("try again later"). A fresh
// socket's buffer always takes these 40 bytes; if it did not, the client sees the close.
void refuse(Session::Socket& socket, const proto::HelloReply& reply) {
  proto::Bytes frame;
  proto::encode_reply(0, reply, frame);
  [[maybe_unused]] const ssize_t n =
      ::send(socket.native_handle(), frame.data(), frame.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  boost::system::error_code ignored;
  socket.close(ignored);
}
}  // namespace

bool Server::refuse_if_over_limits(Session::Socket& socket) {
  const bool total = sessions_.size() >= options_.max_connections;
  ucred cred{};
  socklen_t len = sizeof cred;
  bool per_uid = false;
  if (!total && options_.max_connections_per_uid != 0 &&
      ::getsockopt(socket.native_handle(), SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0) {
    const auto it = connections_by_uid_.find(cred.uid);
    per_uid = it != connections_by_uid_.end() && it->second >= options_.max_connections_per_uid;
  }
  if (!total && !per_uid) return false;
  // Logged once per episode: a client retrying in a loop writes one line, not thousands.
  if (total) {
    ++counters_.connections_refused;
    if (!std::exchange(total_refusal_logged_, true))
      log()->warn("connection refused: {} connections is the limit (max_connections); "
                  "refusals counted in stats until one is accepted again",
                  options_.max_connections);
  } else {
    ++counters_.connections_refused_per_uid;
    if (uid_refusal_logged_.insert(cred.uid).second)
      log()->warn("connection refused: uid {} holds {} connections, the limit "
                  "(max_connections_per_uid) (pid={})",
                  cred.uid, options_.max_connections_per_uid, cred.pid);
  }
  proto::HelloReply reply;
  reply.status = static_cast<std::int32_t>(core::Errc::eagain);
  reply.msgmax = registry_.limits().msgmax;
  reply.msgmnb = registry_.limits().msgmnb;
  reply.msgmni = registry_.limits().msgmni;
  reply.max_frame_bytes = options_.max_frame_bytes;
  refuse(socket, reply);
  return true;
}

void Server::stop() {
  if (stopping_) return;
  stopping_ = true;
  boost::system::error_code ec;
  acceptor_.close(ec);
  snapshot_timer_.cancel();
  // Sends on credit are complete: they land before anything is answered or closed; lent
  // messages not yet taken are simply queued again.
  revoke_all_credit();
  for (auto leased = leased_; auto& s : leased) revoke_lease(*s);
  // Every parked call is told the daemon is stopping; it neither entered nor left a queue,
  // so the client may issue it again to the next daemon (SEMANTICS.md 8.14).
  std::vector<std::shared_ptr<Session>> all;
  for (auto& [id, s] : sessions_) all.push_back(s);
  for (auto& s : all) {
    // Taken out first: a failed write closes the session, which would clear the map
    // under this loop.
    const auto parked = std::exchange(s->parked(), {});
    for (const auto& [request_id, call] : parked) {
      registry_.cancel(call.waiter);
      routes_.erase(call.waiter);
      proto::Reply reply = call.opcode == proto::Opcode::msgsnd
                               ? proto::Reply{proto::MsgsndReply{proto::kStatusShuttingDown}}
                               : proto::Reply{proto::MsgrcvReply{proto::kStatusShuttingDown, 0, {}}};
      s->send(ReplyTo{request_id, call.channel}, std::move(reply));
    }
    s->close_after_writes();
  }
  log()->info("stopping: {} connection(s) closing", sessions_.size());
}

void Server::on_frame(Session& s, const proto::FrameHeader& h, std::span<const std::byte> body,
                      Channel channel) {
  std::string why;
  auto req = proto::decode_request(h, body, why);
  if (!req) {
    ++counters_.sessions_closed_bad_input;
    s.close((channel == Channel::ring ? "bad frame in submission ring: " : "bad frame: ") + why,
            true);
    return;
  }
  ++counters_.requests_total;
  // Linearizability of sends on credit: they completed when published, so whatever this
  // call observes must include them.
  if ((h.flags & proto::kFlagOnCredit) == 0 && (!credited_.empty() || !leased_.empty()) &&
      !std::holds_alternative<proto::DoorbellRequest>(*req) &&
      !std::holds_alternative<proto::CancelRequest>(*req)) {
    settle_credited(s);
    settle_leases();
  }
  if (s.closed()) return;
  dispatch(s, Incoming{h.request_id, h.opcode, h.flags, channel}, std::move(*req));
  deliver_completions();
}

bool Server::park(Session& s, const Incoming& h, core::WaiterId w, int msqid, int msgflg,
                  std::int64_t msgsz) {
  const auto op = static_cast<proto::Opcode>(h.opcode);
  const std::uint32_t cap = options_.max_parked_per_connection;
  if (cap != 0 && s.parked().size() >= cap) {
    // Not in Linux: a connection may not hold more than max_parked_per_connection parked
    // calls (each one is daemon memory). The call is withdrawn at once — nothing happened
    // in between, so it never parked — and answered as the byte quota is (SEMANTICS.md
    // 2.13): msgop(2), "ENOMEM The system does not have enough memory to make a copy of
    // the message pointed to by msgp" — the daemon will not hold this call for you.
    // Never EAGAIN: a msgsnd would take it for a full queue under IPC_NOWAIT.
    registry_.cancel(w);
    ++counters_.parks_refused;
    if (s.log_limit_once(Session::LimitLogged::parked))
      log()->warn("session {}: call not parked, {} parked calls is the limit "
                  "(max_parked_per_connection); answered ENOMEM ({})",
                  s.id(), cap, s.describe());
    const auto enomem = static_cast<std::int32_t>(core::Errc::enomem);
    if (op == proto::Opcode::msgsnd) {
      s.send(h, proto::MsgsndReply{enomem});
    } else {
      s.send(h, proto::MsgrcvReply{enomem, 0, {}});
    }
    return false;
  }
  s.parked().emplace(h.request_id, ParkedCall{w, op, h.channel});
  routes_.emplace(w, Route{s.weak_from_this(), h, op, msqid, msgflg, msgsz});
  return true;
}

namespace {
// The ledgers' lists of sessions: each session at most once.
void remember(std::vector<std::shared_ptr<Session>>& list, Session& s) {
  if (std::none_of(list.begin(), list.end(), [&](const auto& c) { return c.get() == &s; }))
    list.push_back(s.shared_from_this());
}
void forget(std::vector<std::shared_ptr<Session>>& list, const Session& s) {
  std::erase_if(list, [&](const auto& c) { return c.get() == &s; });
}

// How many whole lent entries a claimed head covers, taking them off the lease's record;
// `rest` is what is left over (non-zero: the claim ends inside an entry).
std::size_t take_claimed(LeaseLedger& lease, std::uint64_t head, std::uint64_t& rest) {
  rest = (head - lease.settled_head) & proto::ring::kIndexMask;
  std::size_t n = 0;
  while (rest > 0 && !lease.lent_sizes.empty() && lease.lent_sizes.front() <= rest) {
    rest -= lease.lent_sizes.front();
    lease.settled_head = (lease.settled_head + lease.lent_sizes.front()) & proto::ring::kIndexMask;
    lease.lent_sizes.pop_front();
    ++n;
  }
  return n;
}

// The wire's name for what a grant depends on in the client's identity.
proto::ring::Basis basis_for(core::AccessBasis b) {
  switch (b) {
    case core::AccessBasis::anyone: return proto::ring::Basis::anyone;
    case core::AccessBasis::owner_uid: return proto::ring::Basis::owner_uid;
    case core::AccessBasis::identity: break;
  }
  return proto::ring::Basis::identity;
}

// The most one grant promises: the credit word's fields, and a cap that keeps one
// producer from taking a large queue's whole room at once.
constexpr core::Reservation kGrantCap{proto::ring::kMaxCreditCount, 1u << 20};
}  // namespace

void Server::settle_credited(Session& current) {
  if (settling_credit_) return;
  settling_credit_ = true;
  auto credited = credited_;  // servicing may close sessions, which edits the list
  for (auto& c : credited)
    if (c.get() != &current && c->ring_has_input()) c->service_ring(/*all_published=*/true);
  settling_credit_ = false;
}

void Server::maybe_grant(Session& s, int msqid) {
  if (stopping_ || revoking_ > 0 || !s.ring() || s.closed()) return;
  auto& ledger = s.credit();
  // A holder that asked did not have enough (count or bytes) or wants another queue:
  // what is left goes back and a fresh grant replaces it, so no half-used promise keeps
  // room from everyone, the holder included.
  if (!ledger.held.empty()) revoke_credit(s);
  // Still held after revoking: the client kept credit it never spent nor gave back.
  if (s.closed() || !ledger.held.empty()) return;
  // Judged without capabilities: a thread may drop one between calls, and a send on
  // credit is not judged again. Permission that needs a capability gets no credit.
  core::Caller plain = s.peer().caller;
  plain.caps = core::Capabilities{};
  const core::Reservation r = registry_.grantable(plain, msqid, kGrantCap);
  if (r.empty()) return;
  const auto msgmax = static_cast<std::uint32_t>(registry_.limits().msgmax);
  const auto basis = basis_for(registry_.access_basis(plain, msqid, core::kWrite));
  if (!s.ring()->grant(msqid, msgmax, basis,
                       proto::ring::Credit{static_cast<std::uint32_t>(r.count),
                                           static_cast<std::uint32_t>(r.bytes)})) {
    ++counters_.sessions_closed_bad_input;
    s.close("send credit word kept changing under the daemon", true);
    return;
  }
  registry_.reserve(msqid, r);
  ledger = CreditLedger{msqid, r};  // nothing was held: see above
  remember(credited_, s);
}

void Server::revoke_credit(Session& s) {
  auto& ledger = s.credit();
  if (ledger.held.empty() || !s.ring()) return;
  ++counters_.credit_revocations;
  proto::ring::Credit left;
  if (!s.ring()->revoke(left)) {
    ++counters_.sessions_closed_bad_input;
    s.close("send credit word kept changing under the daemon", true);
    return;
  }
  // What the client had not spent goes back at once.
  const core::Reservation unused{std::min<std::uint64_t>(left.count, ledger.held.count),
                                 std::min<std::uint64_t>(left.bytes, ledger.held.bytes)};
  ledger.held.count -= unused.count;
  ledger.held.bytes -= unused.bytes;
  registry_.unreserve(ledger.msqid, unused, now_coarse());
  // Every entry paid with the rest was published before the revoking compare-and-swap:
  // run them all now, granting nothing meanwhile. (Nested inside this session's own
  // servicing nothing is left to run: a client waits for the reply to the entry being
  // run.) Each entry run takes its part off the ledger and the reservation.
  ++revoking_;
  s.service_ring(/*all_published=*/true);
  --revoking_;
  if (s.credit().held.empty()) forget(credited_, s);
}

void Server::revoke_credit_on(int msqid) {
  auto credited = credited_;
  for (auto& c : credited)
    if (c->credit().msqid == msqid) revoke_credit(*c);
  deliver_completions();
}

void Server::revoke_all_credit() {
  auto credited = credited_;
  for (auto& c : credited) revoke_credit(*c);
  deliver_completions();
}

void Server::forget_credited(const Session& s) { forget(credited_, s); }

void Server::release_credit(Session& s) {
  auto& ledger = s.credit();
  if (!ledger.held.empty()) registry_.unreserve(ledger.msqid, ledger.held, now_coarse());
  ledger.held = {};
  forget(credited_, s);
}

namespace {
// At most this many messages are lent to one receiver at a time.
constexpr std::size_t kMaxLent = 64;
}  // namespace

bool Server::settle_claims(Session& s) {
  auto& lease = s.lease();
  if (!lease.active() || !s.ring()) return false;
  std::uint64_t head = 0;
  if (!s.ring()->claimed_head(lease.settled_head, head)) {
    ++counters_.sessions_closed_bad_input;
    s.close("lending ring claim word out of range", true);
    return false;
  }
  return settle_claims_to(s, head);
}

bool Server::settle_claims_to(Session& s, std::uint64_t head) {
  auto& lease = s.lease();
  std::uint64_t rest = 0;
  const std::size_t n = take_claimed(lease, head, rest);
  if (n == 0 && rest == 0) return false;
  registry_.settle_lent(lease.msqid, n, s.peer().caller, now_coarse());
  counters_.receives_on_lease += n;
  if (rest != 0) {
    ++counters_.sessions_closed_bad_input;
    s.close("lending ring claim ends inside a lent message", true);
  }
  return n != 0;
}

bool Server::refill_lease(Session& s) {
  auto& lease = s.lease();
  if (!lease.active() || !s.ring() || s.closed()) return false;
  bool any = false;
  proto::Bytes frame;
  constexpr std::uint64_t kOverhead = proto::kHeaderBytes + proto::kLentFixedBytes;
  while (lease.lent_sizes.size() < kMaxLent) {
    std::uint64_t room = 0;
    if (!s.ring()->lq_free(room)) {
      ++counters_.sessions_closed_bad_input;
      s.close("lending ring head out of range", true);
      return any;
    }
    if (room <= kOverhead) break;
    const auto lent = registry_.lend_more(lease.msqid, 1, room - kOverhead);
    if (lent.empty()) break;
    frame.clear();
    proto::encode_lent(lease.msqid, lease.msgtyp, lent.front()->mtype, lent.front()->text,
                       frame);
    s.ring()->lend(frame);  // fits: room was checked for exactly this frame
    lease.lent_sizes.push_back(static_cast<std::uint32_t>(frame.size()));
    any = true;
  }
  return any;
}

void Server::maybe_lease(Session& s, int msqid, std::int64_t msgtyp) {
  if (stopping_ || !s.ring() || s.closed() || msgtyp < 0) return;
  auto& lease = s.lease();
  if (lease.active() && (lease.msqid != msqid || lease.msgtyp != msgtyp)) revoke_lease(s);
  if (s.closed()) return;
  if (!lease.active()) {
    // One receiver per queue, and only one that may read without capabilities.
    for (const auto& other : leased_)
      if (other->lease().msqid == msqid) return;
    if (!registry_.may_read_without_caps(s.peer().caller, msqid)) return;
    if (!registry_.begin_lease(msqid, msgtyp)) return;
    core::Caller plain = s.peer().caller;
    plain.caps = core::Capabilities{};
    const auto basis = basis_for(registry_.access_basis(plain, msqid, core::kRead));
    lease = LeaseLedger{msqid, msgtyp, {}, s.ring()->start_lease(basis)};
    remember(leased_, s);
  }
  refill_lease(s);
}

void Server::revoke_lease(Session& s) {
  auto& lease = s.lease();
  if (!lease.active() || !s.ring()) return;
  ++counters_.lease_revocations;
  settle_claims(s);
  if (s.closed() || !lease.active()) return;
  std::uint64_t head = 0;
  if (!s.ring()->revoke_lease(head)) {
    ++counters_.sessions_closed_bad_input;
    s.close("lending ring claim word kept changing under the daemon", true);
    return;
  }
  settle_claims_to(s, head);  // claims that landed between the settling and the revoking
  registry_.end_lease(lease.msqid);
  lease = LeaseLedger{};
  forget(leased_, s);
}

void Server::revoke_lease_on(int msqid) {
  auto leased = leased_;
  for (auto& c : leased)
    if (c->lease().msqid == msqid) revoke_lease(*c);
}

void Server::settle_leases() {
  auto leased = leased_;
  for (auto& c : leased) settle_claims(*c);
}

void Server::release_lease(Session& s) {
  auto& lease = s.lease();
  if (!lease.active()) return;
  // What the client claimed before it went is gone; the rest stays queued.
  std::uint64_t head = 0;
  if (s.ring() && s.ring()->claimed_head(lease.settled_head, head)) {
    std::uint64_t rest = 0;
    const std::size_t n = take_claimed(lease, head, rest);
    registry_.settle_lent(lease.msqid, n, s.peer().caller, now_coarse());
    counters_.receives_on_lease += n;
  }
  registry_.end_lease(lease.msqid);
  lease = LeaseLedger{};
  forget(leased_, s);
}

void Server::wake_ring_poller() {
  ring_active_until_ = std::chrono::steady_clock::now() + kRingActiveWindow;
  if (rings_idle_) {
    rings_idle_ = false;
    for (auto& s : ring_sessions_) s->set_ring_daemon_idle(false);
  }
  if (ring_poll_posted_) return;
  ring_poll_posted_ = true;
  boost::asio::post(io_, [this] { poll_rings(); });
}

void Server::poll_rings() {
  ring_poll_posted_ = false;
  bool work = false;
  // A copy: servicing a ring can close its session (bad input), which edits the list.
  auto sessions = ring_sessions_;
  for (auto& s : sessions) work = s->service_ring() || work;
  auto leased = leased_;
  for (auto& s : leased) {
    work = settle_claims(*s) || work;
    work = refill_lease(*s) || work;
  }
  deliver_completions();  // settling may have woken parked senders
  std::erase_if(ring_sessions_, [](const auto& s) { return s->closed(); });
  if (ring_sessions_.empty()) {
    rings_idle_ = true;
    return;
  }
  const auto now = std::chrono::steady_clock::now();
  if (work) ring_active_until_ = now + kRingActiveWindow;
  if (now < ring_active_until_) {
    // Two cores, three busy threads: an empty poll gives the core to a client.
    if (!work) ::sched_yield();
    ring_poll_posted_ = true;
    boost::asio::post(io_, [this] { poll_rings(); });
    return;
  }
  // Idle: say so in every ring, then look once more (a client that published before it
  // could see the flag rings no doorbell).
  rings_idle_ = true;
  for (auto& s : ring_sessions_) s->set_ring_daemon_idle(true);
  for (auto& s : ring_sessions_) {
    if (s->ring_has_input()) {
      wake_ring_poller();
      return;
    }
  }
}

void Server::deliver_completions() {
  // A completion may restore a message, which may complete another call: loop.
  for (auto done = registry_.take_completions(); !done.empty();
       done = registry_.take_completions()) {
    for (auto& c : done) {
      auto it = routes_.find(c.waiter);
      if (it == routes_.end()) continue;
      Route route = std::move(it->second);
      routes_.erase(it);
      auto session = route.session.lock();
      const auto status = static_cast<std::int32_t>(c.error);
      if (route.opcode == proto::Opcode::msgsnd) {
        if (session) {
          session->parked().erase(route.reply_to.request_id);
          session->send(route.reply_to, proto::MsgsndReply{status});
        }
        continue;
      }
      proto::MsgrcvReply reply{status, 0, {}};
      int restore = -1;
      if (c.received) {
        reply.mtype = c.received->mtype;
        reply.text = std::move(c.received->text);
        // Only an untruncated message can be put back whole (8.3).
        const bool noerror = (route.msgflg & proto::kMsgNoerror) != 0;
        if (!noerror || static_cast<std::int64_t>(reply.text.size()) < route.msgsz)
          restore = route.msqid;
      }
      if (session) {
        session->parked().erase(route.reply_to.request_id);
        session->send(route.reply_to, std::move(reply), restore);
      } else if (restore >= 0) {
        revoke_lease_on(restore);
        registry_.restore(restore, core::Message{reply.mtype, std::move(reply.text)}, now_coarse());
        ++counters_.messages_restored;
      }
    }
  }
}

void Server::cancel_parked(Session& s) {
  // A peer that went away while parked is dropped silently (SEMANTICS.md 8.3).
  for (auto& [request_id, call] : s.parked()) {
    registry_.cancel(call.waiter);
    routes_.erase(call.waiter);
  }
  s.parked().clear();
}

void Server::on_session_closed(Session& s, std::deque<std::pair<int, core::Message>> unsent) {
  const auto now = now_coarse();
  for (auto& [msqid, msg] : unsent) {
    revoke_lease_on(msqid);  // a message back at the head goes before anything lent
    registry_.restore(msqid, std::move(msg), now);
    ++counters_.messages_restored;
  }
  // Called again for a reply that reaches a closed session: count the close once.
  if (sessions_.erase(s.id()) != 0) {
    auto it = connections_by_uid_.find(s.peer().caller.uid);
    if (it != connections_by_uid_.end() && --it->second == 0) connections_by_uid_.erase(it);
  }
  std::erase_if(ring_sessions_, [](const auto& r) { return r->closed(); });
  deliver_completions();
}

void Server::settle_pending_input(Session& current) {
  // SEMANTICS.md 8.2: before IPC_RMID or IPC_SET, run every complete request already
  // waiting on any other connection, so a call sent before the remover looked is parked
  // first and sees EIDRM, as it would in the kernel.
  if (settling_) return;
  settling_ = true;
  std::vector<std::shared_ptr<Session>> others;
  for (auto& [id, s] : sessions_)
    if (s.get() != &current) others.push_back(s);
  for (auto& s : others) {
    s->service_ring();
    s->drain_input();
  }
  settling_ = false;
}

void Server::set_limits(const proto::Limits& limits, const core::Caller& by) {
  revoke_all_credit();  // credit was promised under the old msgmax and quota
  registry_.set_limits(limits);
  log()->info("limits set by ADMIN: msgmax {}, msgmnb {}, msgmni {}, max_queues_per_uid {} "
              "(uid={} pid={})",
              limits.msgmax, limits.msgmnb, limits.msgmni, limits.max_queues_per_uid, by.uid,
              by.process.host_pid);
}

const core::Caller& Server::caller_for(Session& s, std::uint16_t flags) const {
  if (!(flags & proto::kFlagCaps)) return s.peer().caller;
  // Rule 5.4.6: the calling thread may hold less than the process did at connect.
  std::uint8_t claimed = 0;
  if (flags & proto::kFlagCapIpcOwner) claimed |= static_cast<std::uint8_t>(core::Capability::ipc_owner);
  if (flags & proto::kFlagCapSysAdmin) claimed |= static_cast<std::uint8_t>(core::Capability::sys_admin);
  if (flags & proto::kFlagCapSysResource)
    claimed |= static_cast<std::uint8_t>(core::Capability::sys_resource);
  return s.narrowed_caller(core::Capabilities::from_bits(s.peer().caller.caps.bits() & claimed));
}

}  // namespace sysvmq::server

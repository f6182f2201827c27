// selector.hpp: msgrcv's msgtyp and msgflg, turned into "which message leaves" (Rule 3.3).
// Not here: MSG_COPY's position lookup (queue.cpp), which counts every message.
#pragma once

#include <cstdint>

namespace sysvmq::core {

class Selector {
 public:
  enum class Mode : std::uint8_t {
    any,         // msgtyp 0: the oldest message (MSG_EXCEPT has no effect)
    equal,       // msgtyp > 0: the oldest with mtype == msgtyp
    not_equal,   // msgtyp > 0 with MSG_EXCEPT: the oldest with mtype != msgtyp
    less_equal,  // msgtyp < 0: the smallest mtype <= |msgtyp|, oldest among equals
  };

  // convert_mode() of ipc/msg.c; msgflg's MSG_COPY is the caller's business.
  static Selector from(std::int64_t msgtyp, int msgflg);

  Mode mode() const { return mode_; }
  std::int64_t type() const { return type_; }

  // Whether a message of this mtype qualifies at all (used for parked receivers).
  bool matches(std::int64_t mtype) const;

  // The message that leaves, over a range of Messages in send order; `last` if none.
  template <class It>
  It find(It first, It last) const {
    if (mode_ != Mode::less_equal) {
      for (; first != last; ++first)
        if (matches(first->mtype)) return first;
      return last;
    }
    It best = last;
    for (; first != last; ++first) {
      if (!matches(first->mtype)) continue;
      if (best == last || first->mtype < best->mtype) best = first;
      if (best->mtype == 1) break;  // nothing can be smaller than the smallest legal mtype
    }
    return best;
  }

 private:
  Selector(Mode m, std::int64_t t) : mode_(m), type_(t) {}
  Mode mode_;
  std::int64_t type_;
};

}  // namespace sysvmq::core

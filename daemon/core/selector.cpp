#include "selector.hpp"

#include <limits>

#include "proto/sysv.hpp"

namespace sysvmq::core {

Selector Selector::from(std::int64_t msgtyp, int msgflg) {
  if (msgtyp == 0) return {Mode::any, 0};
  if (msgtyp < 0) {
    // -LONG_MIN does not exist; the kernel reads it as LONG_MAX (Rule 3.3, last row).
    const std::int64_t bound =
        msgtyp == std::numeric_limits<std::int64_t>::min() ? std::numeric_limits<std::int64_t>::max()
                                                            : -msgtyp;
    return {Mode::less_equal, bound};
  }
  if (msgflg & proto::kMsgExcept) return {Mode::not_equal, msgtyp};
  return {Mode::equal, msgtyp};
}

bool Selector::matches(std::int64_t mtype) const {
  switch (mode_) {
    case Mode::any: return true;
    case Mode::equal: return mtype == type_;
    case Mode::not_equal: return mtype != type_;
    case Mode::less_equal: return mtype <= type_;
  }
  return false;
}

}  // namespace sysvmq::core

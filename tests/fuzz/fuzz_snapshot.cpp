// fuzz_snapshot: the snapshot decoder (daemon/core/snapshot.hpp) on any bytes — the file a
// daemon loads at start may be damaged, truncated, or made by hand. The checksum would
// turn away almost every mutation before the body is parsed, so an input whose first
// byte is odd has its checksum recomputed first: the body parser sees hostile fields.
// Checked, trapping on violation:
//  - decode_snapshot returns a snapshot or nullopt with a reason, never anything else;
//  - an accepted snapshot loads into an empty Registry without throwing, and the loaded
//    registry encodes (stamped with the same time) to exactly the accepted bytes.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "daemon/core/registry.hpp"
#include "daemon/core/snapshot.hpp"

#define CHECK(cond)                  \
  do {                               \
    if (!(cond)) __builtin_trap();   \
  } while (0)

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const bool reseal = (data[0] & 1) != 0;
  std::vector<std::byte> image(size - 1);
  for (std::size_t i = 1; i < size; ++i) image[i - 1] = static_cast<std::byte>(data[i]);
  if (reseal && image.size() >= 4) {
    const std::uint32_t crc = sysvmq::core::crc32(std::span(image).first(image.size() - 4));
    for (int i = 0; i < 4; ++i) image[image.size() - 4 + i] = static_cast<std::byte>(crc >> (8 * i));
  }

  std::string why;
  std::optional<sysvmq::core::DecodedSnapshot> decoded;
  try {
    decoded = sysvmq::core::decode_snapshot(image, why);
  } catch (...) {
    __builtin_trap();
  }
  if (!decoded) {
    CHECK(!why.empty());
    return 0;
  }
  const std::int64_t taken_at = decoded->taken_at;
  sysvmq::core::Registry registry;
  try {
    registry.load(std::move(decoded->registry));
  } catch (...) {
    __builtin_trap();
  }
  CHECK(sysvmq::core::encode_snapshot(registry, taken_at) == image);
  return 0;
}

#include <gtest/gtest.h>

#include "mqtt/mosquitto/dynsec_authority.h"

namespace linli::mqtt {
namespace {

TEST(NextChunkSize, AimsAtTheTargetTime) {
  DynsecTuning t{.max_devices_per_message = 250, .target_message_ms = 1000};
  // 16 devices took 160 ms: 10 ms/device → 100 would fit, but growth is at most 2x per step.
  EXPECT_EQ(NextChunkSize(16, 16, 160, t), 32u);
  EXPECT_EQ(NextChunkSize(64, 64, 640, t), 100u);
  // 250 ms per device (10k devices stored): 4 per message.
  EXPECT_EQ(NextChunkSize(16, 16, 4000, t), 4u);
  // Slower than the target even for one device: never below 1.
  EXPECT_EQ(NextChunkSize(4, 4, 20000, t), 1u);
  // Fast broker: capped by max_devices_per_message.
  EXPECT_EQ(NextChunkSize(200, 200, 1, t), 250u);
}

TEST(NextChunkSize, DegenerateInputsStayInRange) {
  DynsecTuning t{.max_devices_per_message = 10, .target_message_ms = 0};
  EXPECT_EQ(NextChunkSize(0, 0, 0, t), 1u);
  EXPECT_EQ(NextChunkSize(50, 0, 0, t), 10u);
  EXPECT_GE(NextChunkSize(5, 5, 0, t), 1u);
  EXPECT_LE(NextChunkSize(5, 5, 0, t), 10u);
  t.max_devices_per_message = 0;
  EXPECT_EQ(NextChunkSize(5, 5, 100, t), 1u);
}

}  // namespace
}  // namespace linli::mqtt

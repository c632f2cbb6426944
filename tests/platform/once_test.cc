// platform/once: one build however many threads ask, a failed build retried,
// and the builder's own call told apart from a wait.
#include "platform/once.h"

#include <atomic>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace {

std::atomic<int> g_builds{0};

bool SlowBuild(void *ctx) {
  g_builds++;
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  *static_cast<int *>(ctx) = 42;
  return true;
}

TEST(Once, OneBuildForManyThreads) {
  static xsmem_once once;
  int value = 0;
  std::vector<std::thread> threads;
  std::atomic<int> saw{0};
  for (int i = 0; i < 8; i++) {
    threads.emplace_back([&] {
      EXPECT_EQ(xsmem_once_run(&once, SlowBuild, &value), XSMEM_ONCE_DONE);
      if (value == 42) saw++;  // every caller sees what the build wrote
    });
  }
  for (auto &t : threads) t.join();
  EXPECT_EQ(g_builds.load(), 1);
  EXPECT_EQ(saw.load(), 8);
  EXPECT_TRUE(xsmem_once_done(&once));
}

TEST(Once, AFailedBuildIsTriedAgain) {
  static xsmem_once once;
  int tries = 0;
  auto build = [](void *ctx) { return ++*static_cast<int *>(ctx) >= 3; };
  EXPECT_EQ(xsmem_once_run(&once, build, &tries), XSMEM_ONCE_FAILED);
  EXPECT_FALSE(xsmem_once_done(&once));
  EXPECT_EQ(xsmem_once_run(&once, build, &tries), XSMEM_ONCE_FAILED);
  EXPECT_EQ(xsmem_once_run(&once, build, &tries), XSMEM_ONCE_DONE);
  EXPECT_EQ(xsmem_once_run(&once, build, &tries), XSMEM_ONCE_DONE);
  EXPECT_EQ(tries, 3);
}

xsmem_once g_recursive;
xsmem_once_result g_inner = XSMEM_ONCE_DONE;

bool CallsItself(void *) {
  g_inner = xsmem_once_run(&g_recursive, CallsItself, nullptr);
  return true;
}

TEST(Once, TheBuilderCallingInIsToldSo) {
  EXPECT_EQ(xsmem_once_run(&g_recursive, CallsItself, nullptr), XSMEM_ONCE_DONE);
  EXPECT_EQ(g_inner, XSMEM_ONCE_RECURSIVE);
}

}  // namespace

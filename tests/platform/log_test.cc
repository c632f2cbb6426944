#include "platform/log.h"

#include <stdio.h>
#include <stdint.h>

#include <string>

#include "gtest/gtest.h"

namespace {

std::string Fmt(const char *fmt, ...) {
  char buf[256];
  va_list ap;
  va_start(ap, fmt);
  xsmem_vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  return buf;
}

// The non-allocating formatter must agree with libc's printf on what it supports.
TEST(Log, AgreesWithSnprintf) {
  char want[256];
  snprintf(want, sizeof(want), "%d|%5d|%-5d|%05d|%u|%x|%X|%zu|%lld|%s|%.3s|%8s|%-8s|%c|%%", -42, 7, 7, -42, 4000000000u,
           0xbeef, 0xbeef, (size_t)123456789, -1234567890123LL, "str", "abcdef", "r", "l", 'z');
  EXPECT_EQ(Fmt("%d|%5d|%-5d|%05d|%u|%x|%X|%zu|%lld|%s|%.3s|%8s|%-8s|%c|%%", -42, 7, 7, -42, 4000000000u, 0xbeef,
                0xbeef, (size_t)123456789, -1234567890123LL, "str", "abcdef", "r", "l", 'z'),
            want);
  snprintf(want, sizeof(want), "%p", (void *)0x7f00dead0000);
  EXPECT_EQ(Fmt("%p", (void *)0x7f00dead0000), want);
  EXPECT_EQ(Fmt("%.2f %f %.0f", 3.14159, -0.5, 2.6), "3.14 -0.500 3");
  EXPECT_EQ(Fmt("%s", (const char *)nullptr), "(null)");
  EXPECT_EQ(Fmt("%llu", (unsigned long long)UINT64_MAX), "18446744073709551615");
}

TEST(Log, TruncatesAndReportsFullLength) {
  char buf[8];
  size_t n = xsmem_snprintf(buf, sizeof(buf), "%s", "0123456789");
  EXPECT_EQ(n, 10u);
  EXPECT_STREQ(buf, "0123456");
}

TEST(Log, FatalWritesAndAborts) { EXPECT_DEATH(xsmem_fatal("broken %d", 42), "xsmem: fatal: broken 42"); }

}  // namespace

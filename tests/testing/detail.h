// tests/testing/detail.h: an allocator's `detail` figures (the
// xsmem_stats_sink callbacks: group, label, key, kind, value) collected once,
// for tests that check per-tier, per-class, per-bin and per-node figures.
//
//   xsmem::testing::Detail d(allocator);
//   EXPECT_EQ(d.Get("tier", "small", "bytes_in_use"), 4096);
//   EXPECT_TRUE(d.Has("contention", "small", "stack_cas_retries"));
//
// A figure reported twice keeps its last value (as the maps the tests kept
// before); values() has every report in order.
#ifndef XSMEM_TESTS_TESTING_DETAIL_H_
#define XSMEM_TESTS_TESTING_DETAIL_H_

#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "allocators/allocator.h"

namespace xsmem::testing {

// One figure as the detail op reported it.
struct DetailValue {
  std::string group, label, key, kind;
  double value = 0;
};

class Detail {
 public:
  // Runs a's detail op once. REQUIRES: a->ops->detail is set.
  explicit Detail(const xsmem_allocator *a);
  // The same, calling on_value for each figure from inside the detail op
  // (before it is recorded): for tests of what a sink may do there.
  Detail(const xsmem_allocator *a, std::function<void(const DetailValue &)> on_value);

  // Returns the value of group/label/key, or 0 when it was not reported.
  double Get(const std::string &group, const std::string &label, const std::string &key) const;
  // Returns true when group/label/key was reported.
  bool Has(const std::string &group, const std::string &label, const std::string &key) const;
  // Returns true when any figure of group was reported.
  bool HasGroup(const std::string &group) const;
  // Returns the labels of group, sorted.
  std::set<std::string> Labels(const std::string &group) const;
  // Returns label -> value of key for each label of group that reports key.
  std::map<std::string, double> ByLabel(const std::string &group, const std::string &key) const;
  // Returns key -> value for each key reported under group/label.
  std::map<std::string, double> Figures(const std::string &group, const std::string &label) const;
  // Every figure keyed "group/label/key".
  const std::map<std::string, double> &map() const { return map_; }
  // Every figure in the order the detail op reported it.
  const std::vector<DetailValue> &values() const { return values_; }

 private:
  std::vector<DetailValue> values_;
  std::map<std::string, double> map_;
};

// Returns a's detail figures keyed "group/label/key".
std::map<std::string, double> DetailMap(const xsmem_allocator *a);

}  // namespace xsmem::testing

#endif  // XSMEM_TESTS_TESTING_DETAIL_H_

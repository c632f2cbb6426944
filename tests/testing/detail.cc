// tests/testing/detail.cc: see detail.h.
#include "tests/testing/detail.h"

#include <utility>

namespace xsmem::testing {
namespace {

std::string Key(const std::string &group, const std::string &label, const std::string &key) {
  return group + "/" + label + "/" + key;
}

// The sink handed to the detail op: the C callback records into the Detail.
struct Sink {
  xsmem_stats_sink base;
  std::vector<DetailValue> *values;
  std::map<std::string, double> *map;
  const std::function<void(const DetailValue &)> *on_value;
};

void Record(xsmem_stats_sink *s, const char *group, const char *label, const char *key, const char *kind,
            double value) {
  Sink *sink = reinterpret_cast<Sink *>(s);
  DetailValue v{group, label, key, kind ? kind : "", value};
  if (*sink->on_value) (*sink->on_value)(v);
  (*sink->map)[Key(v.group, v.label, v.key)] = value;
  sink->values->push_back(std::move(v));
}

}  // namespace

Detail::Detail(const xsmem_allocator *a) : Detail(a, nullptr) {}

Detail::Detail(const xsmem_allocator *a, std::function<void(const DetailValue &)> on_value) {
  Sink sink{{Record}, &values_, &map_, &on_value};
  a->ops->detail(a, &sink.base);
}

double Detail::Get(const std::string &group, const std::string &label, const std::string &key) const {
  auto it = map_.find(Key(group, label, key));
  return it == map_.end() ? 0 : it->second;
}

bool Detail::Has(const std::string &group, const std::string &label, const std::string &key) const {
  return map_.count(Key(group, label, key)) != 0;
}

bool Detail::HasGroup(const std::string &group) const {
  for (const DetailValue &v : values_) {
    if (v.group == group) return true;
  }
  return false;
}

std::set<std::string> Detail::Labels(const std::string &group) const {
  std::set<std::string> labels;
  for (const DetailValue &v : values_) {
    if (v.group == group) labels.insert(v.label);
  }
  return labels;
}

std::map<std::string, double> Detail::ByLabel(const std::string &group, const std::string &key) const {
  std::map<std::string, double> out;
  for (const DetailValue &v : values_) {
    if (v.group == group && v.key == key) out[v.label] = v.value;
  }
  return out;
}

std::map<std::string, double> Detail::Figures(const std::string &group, const std::string &label) const {
  std::map<std::string, double> out;
  for (const DetailValue &v : values_) {
    if (v.group == group && v.label == label) out[v.key] = v.value;
  }
  return out;
}

std::map<std::string, double> DetailMap(const xsmem_allocator *a) { return Detail(a).map(); }

}  // namespace xsmem::testing

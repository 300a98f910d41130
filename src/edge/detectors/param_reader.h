// ParamReader: typed, validated access to one YAML mapping of analyzer or detector parameters,
// with every error naming the full key ("cameras[0].algorithms.crowd.min_people") and the
// reason. Used by the detectors and by the vision analyzers (zones, roi_state, camera_health).
//
// Unknown keys are refused (a typo must not silently fall back to a default) except the few
// keys the pipeline itself reads from an algorithm's mapping (see kPipelineKeys).
// Thread-safety: a value used by one thread at a time; it keeps a reference-counted copy of
// the node.
#pragma once

#include <initializer_list>
#include <limits>
#include <set>
#include <string>
#include <vector>

#include <opencv2/core.hpp>
#include <yaml-cpp/yaml.h>

#include "common/result.h"

namespace linli::edge {

class ParamReader {
 public:
  // `node` may be undefined or null (all defaults). `key` is the mapping's path.
  ParamReader(const YAML::Node& node, std::string key);

  // InvalidArgument unless the node is a mapping (or absent/null).
  Result<void> CheckMapping() const;
  // InvalidArgument naming the first key not in `known` (nor a pipeline key).
  Result<void> CheckKnown(std::initializer_list<std::string_view> known) const;
  Result<void> CheckKnown(const std::vector<std::string_view>& known) const;

  bool Has(const std::string& name) const;
  YAML::Node Node(const std::string& name) const;
  // `key` + "." + name: the path of a member, for error messages and nested readers.
  std::string Key(const std::string& name) const { return key_ + "." + name; }
  const std::string& key() const { return key_; }

  Result<double> Double(const std::string& name, double def,
                        double min = -std::numeric_limits<double>::infinity(),
                        double max = std::numeric_limits<double>::infinity()) const;
  Result<int> Int(const std::string& name, int def, int min = std::numeric_limits<int>::min(),
                  int max = std::numeric_limits<int>::max()) const;
  Result<bool> Bool(const std::string& name, bool def) const;
  Result<std::string> String(const std::string& name, const std::string& def) const;
  // A string that must be one of `allowed`.
  Result<std::string> Choice(const std::string& name, const std::string& def,
                             std::initializer_list<std::string_view> allowed) const;
  // A scalar string or a sequence of strings; `def` when absent.
  Result<std::vector<std::string>> Strings(const std::string& name,
                                           const std::vector<std::string>& def = {}) const;
  // An int (square) or a [w, h] pair, each in [min, max].
  Result<cv::Size> Size(const std::string& name, cv::Size def, int min, int max) const;

  // Keys the pipeline reads from an algorithm's own mapping; analyzers accept and ignore them.
  static const std::set<std::string, std::less<>>& kPipelineKeys();

 private:
  YAML::Node node_;
  std::string key_;
};

}  // namespace linli::edge

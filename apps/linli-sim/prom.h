// Reading Prometheus text exposition (what linlid serves on /metrics) for the benchmarks:
// parsing samples, summing counters, and quantiles of a histogram — optionally of the
// difference between two scrapes, so that a measurement covers one benchmark step only.
// Quantiles interpolate linearly inside the bucket like Prometheus' histogram_quantile().
// Thread-safety: pure functions.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.h"

namespace linli::sim {

using PromLabels = std::vector<std::pair<std::string, std::string>>;

struct PromSample {
  std::string name;
  PromLabels labels;
  double value = 0;
};

// Parses the text format (comments and blank lines skipped). A malformed line is an
// InvalidArgument naming its line number.
Result<std::vector<PromSample>> ParsePrometheusText(std::string_view text);

// Sum of the samples called `name` whose labels include every pair of `match`; nullopt if none.
std::optional<double> PromSum(const std::vector<PromSample>& samples, std::string_view name,
                              const PromLabels& match = {});

struct PromHistogram {
  std::vector<std::pair<double, double>> buckets;  // (upper bound "le", cumulative count), +Inf last
  double sum = 0;
  double count = 0;
};

// The histogram `name` (samples name_bucket/_sum/_count) summed over the label sets that
// include `match`. NotFound if there are no buckets.
Result<PromHistogram> GetHistogram(const std::vector<PromSample>& samples, std::string_view name,
                                   const PromLabels& match = {});
// after - before, bucket by bucket (bounds must be equal; else InvalidArgument).
Result<PromHistogram> HistogramDelta(const PromHistogram& after, const PromHistogram& before);
// The q-quantile (0 < q < 1) by linear interpolation within the bucket holding rank q*count;
// in the +Inf bucket the largest finite bound is returned. FailedPrecondition if empty.
Result<double> HistogramQuantile(const PromHistogram& h, double q);

}  // namespace linli::sim

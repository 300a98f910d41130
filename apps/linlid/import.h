// `linlid import`: bulk registry import from CSV (UTF-8, header row, RFC 4180 quoting).
//
// Each row becomes a request body for RegistryService (the same validation, compound
// derivation, encryption and audit as the REST API). Good rows are imported in transactions
// of --batch rows; a bad row is rejected alone with the field and reason, written to
// FILE.rejected.csv and kept as a dead letter, and the import goes on.
// Devices are imported into the registry only (bulk migration): their broker accounts are
// issued afterwards with POST /api/v1/devices/{id}/credentials, and a running linlid picks the
// new devices up when it restarts.
#pragma once

#include <string>

namespace linli::linlid {

struct ImportOptions {
  std::string data_dir;
  std::string kind;  // collection name: regions, compounds, buildings, units, rooms, persons, ...
  std::string file;
  bool dry_run = false;
  bool no_progress = false;
  int batch_size = 500;
};

// Returns the exit code: 0 all rows imported, 1 some rows rejected, 2 the import could not run.
int Import(const ImportOptions& options);

}  // namespace linli::linlid

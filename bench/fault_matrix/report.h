// The fault matrix's table: one row per scenario, as text for the terminal and as
// Markdown for docs/RELIABILITY.md.
#pragma once

#include <string>
#include <vector>

#include "runner.h"

namespace fault_matrix {

std::string TextReport(const std::vector<ScenarioResult>& results);
std::string MarkdownReport(const std::vector<ScenarioResult>& results, const std::string& header);

}  // namespace fault_matrix

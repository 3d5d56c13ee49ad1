// The CLI's API in process: with no server on a data directory, `strake
// get/describe/logs/cancel` of the kinds `strake run` writes are answered by
// server::Api over the directory's store, so that they mean what a
// server's answers mean (cli/client.h).
#pragma once

#include <memory>
#include <string>

#include "base/result.h"
#include "cli/client.h"

namespace strake::app {

// Opens (making it if missing) the store of `data_dir` and the API over it.
Result<std::unique_ptr<cli::LocalApi>> OpenLocalApi(const std::string& data_dir);

}  // namespace strake::app

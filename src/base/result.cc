#include "base/result.h"

namespace strake {

const char* ErrorCodeName(ErrorCode code) {
  switch (code) {
    case ErrorCode::kUnknown:
      return "InternalError";
    case ErrorCode::kInvalid:
      return "Invalid";
    case ErrorCode::kNotFound:
      return "NotFound";
    case ErrorCode::kAlreadyExists:
      return "AlreadyExists";
    case ErrorCode::kConflict:
      return "Conflict";
    case ErrorCode::kForbidden:
      return "Forbidden";
    case ErrorCode::kUnauthenticated:
      return "Unauthorized";
    case ErrorCode::kUnavailable:
      return "ServiceUnavailable";
    case ErrorCode::kTooLarge:
      return "RequestEntityTooLarge";
  }
  return "InternalError";
}

}  // namespace strake

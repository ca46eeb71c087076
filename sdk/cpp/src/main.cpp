#include "pie/pie.h"

namespace pie::detail {

int run_main(Result<std::string> (*main)(std::vector<std::string>)) {
  Result<std::string> result = main(arguments());
  if (!result) fail(result.error().message);
  set_return(result.value());
  return 0;
}

}  // namespace pie::detail

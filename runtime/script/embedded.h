/* script/embedded.h - moved to util/embedded.h (the API server embeds files too). */
#include "util/embedded.h"

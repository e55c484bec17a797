#include "common.h"
TEST(other) {}
TEST_HARNESS_MAIN

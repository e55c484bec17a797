/* Stands in for the harness: its macros are known, never read. */
#define TEST(test_name) __TEST_IMPL(test_name, -1)

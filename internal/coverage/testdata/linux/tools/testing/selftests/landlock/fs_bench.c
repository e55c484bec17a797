/* Not a *_test.c file: not in the inventory. */
TEST(benchmark) {}

/* Found in the parent directory: the harness's, skipped. */
TEST(never_read)

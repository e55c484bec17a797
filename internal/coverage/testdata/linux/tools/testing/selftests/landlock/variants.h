/* Variants shared by several files, added to the fixture of the including file. */
FIXTURE_VARIANT(fix)
{
	int x;
};

/* clang-format off */
FIXTURE_VARIANT_ADD(fix, first) {
	/* clang-format on */
	.x = 1,
};

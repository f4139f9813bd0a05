# Modules each unit test links with: UNIT_<module> := sources.
# Add one line per tests/unit/test_<module>.c.

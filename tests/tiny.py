"""Overrides the tests' tiny ladders share."""

# 147 of the 1,230 triage messages (every 7th or 9th row of each split): the triage stage of a tiny ladder in
# ~3 s instead of ~30 s of embedding. The real splits and the tuned detector are measured in tests/test_triage.py.
TRIAGE = [f"triage.{split}=tests/data/triage/{split}.jsonl" for split in ("train", "dev", "test")]

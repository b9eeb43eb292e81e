"""The write path: membership signals become Pinterest writes, and nothing is lost on the way.

The life of a write reads top to bottom in these modules:

- ``plan``: pure. The run's pending signals (the last one per identifier wins, whatever
  stream carried it) and what the store knows become ADD and REMOVE requests.
- ``journal``: each request is stored as an intent before it is sent and confirmed (its
  effect recorded, the intent dropped, in one transaction) when Pinterest accepts it. An
  intent whose answer never came may have taken effect: the next run sends it again first.
- ``lists``: a list is found by name (store, then the account's pages) or made with its
  first records, under a claim every process on the store respects; a list Pinterest says
  is gone, once confirmed, is made again with every member the store knows.
- ``send``: requests out, lists in parallel, a request too large split in two, mirror
  removals at the end of a snapshot.
- ``cleanup``: once, after the schema 7 upgrade, before any input: the entries of IDFA
  lists an older version hashed from the lowercase id are removed through the journal.
- ``feedback``: at the end of a real run, every known list's status and audience size from
  the account's list and audience pages, kept in the store's history (pure rules: ``matching``).
"""

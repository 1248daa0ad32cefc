"""The reader as observer: the triplets of "Be the observer", the metrics' answers, judgements and their scores.

* ``observer_set``: the 40 triplets built from the shipped photos, and their version;
* ``answers``: every metric's distances on them, and the ``set.json`` the page reads;
* ``judgements``: the files readers save, read into BAPPS-style judgements ``h``;
* ``agreement``: metrics scored against a class, the ceiling, two observers' agreement;
* ``page``: the page's files (PNGs and ``set.json``) and its HTML container.
"""

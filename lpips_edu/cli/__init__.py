"""``python -m lpips_edu COMMAND``: the commands, and the engine that runs LPIPS over folders.

* ``compare_command``: ``compare`` (one pair, two folders, all pairs; resume, torchrun);
* ``weights_command``: ``weights fetch | list``;
* ``observers_command``: ``observers score`` (a class's judgements from "Be the observer");
* the folder engine behind ``compare``: ``image_pairs`` (decoding ahead, batches by size,
  results in input order), ``distance_rows`` (the output file, resumable) and
  ``sharding`` (each torchrun rank's share and part file).
"""

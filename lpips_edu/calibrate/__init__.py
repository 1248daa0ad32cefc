"""Calibrating and evaluating a perceptual metric: 2AFC / JND data, scoring, training the heads.

One module per idea:

* ``datasets``: BAPPS 2AFC triplets and JND pairs from disk, in-memory triplets;
* ``benchmark``: an offline 2AFC benchmark built from shipped photos and ``lpips_edu.data.distortions``;
* ``scoring``: 2AFC agreement and JND mAP exactly as the lpips package (with its JND bug fixed), bootstrap intervals;
* ``baselines``: L2, L2 in Lab, SSIM / DSSIM;
* ``heads``: ``Dist2LogitLayer``, the ranking loss, saving heads in the official format;
* ``training``: the lin / tune / scratch recipes.
* ``shifts``: how often a shift of a pixel or two flips a 2AFC decision (the rank-flip rate).

The metric a calibration run trains is an ``lpips_edu.LPIPS`` on any backbone:
``LPIPS(net, backbone="random" | "book" | "imagenet", heads="fresh", seed=...)``.
"""

from ..lpips.linear_heads import heads_state_dict, load_heads, save_heads
from .baselines import BASELINES, dssim_distance, l2_distance, l2_lab_distance, psnr, ssim
from .benchmark import BenchmarkConfig, make_offline_2afc, offline_2afc_splits
from .datasets import JNDDataset, TwoAFCDataset, TwoAFCTensors, write_bapps_tree
from .heads import BCERankingLoss, Dist2LogitLayer
from .scoring import (
    bootstrap_ci,
    jnd_map,
    jnd_precision_recall,
    paired_bootstrap_difference,
    score_2afc,
    score_jnd,
    two_afc_agreement,
    two_afc_distances,
    voc_ap,
)
from .training import VARIANTS, HeadTrainingConfig, train_heads

__all__ = [
    "BASELINES", "dssim_distance", "l2_distance", "l2_lab_distance", "psnr", "ssim",
    "BenchmarkConfig", "make_offline_2afc", "offline_2afc_splits",
    "JNDDataset", "TwoAFCDataset", "TwoAFCTensors", "write_bapps_tree",
    "BCERankingLoss", "Dist2LogitLayer", "heads_state_dict", "load_heads", "save_heads",
    "bootstrap_ci", "jnd_map", "jnd_precision_recall", "paired_bootstrap_difference", "score_2afc", "score_jnd",
    "two_afc_agreement", "two_afc_distances", "voc_ap",
    "VARIANTS", "HeadTrainingConfig", "train_heads",
]

"""Images and datasets that need no download."""

from .samples import SAMPLE_IMAGES, load_sample, sample_names, to_image, to_tensor

__all__ = ["SAMPLE_IMAGES", "load_sample", "sample_names", "to_image", "to_tensor"]

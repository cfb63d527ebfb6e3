"""imaging: segments in, scalogram images out. The CWT engine (a batched torch filter bank), the image
(normalise, resize, colour map), the HDF5 cache (writer and chunk reader) and the gallery figure.

Imports ``ecgcwt.config`` and ``ecgcwt.data``.
"""

from ecgcwt._exports import lazy_face

__all__, __getattr__, __dir__ = lazy_face(
    __name__,
    {
        # CWT engine
        "CwtParams": ".settings",
        "CWT_ATTRS": ".settings",
        "transform_geometry": ".cwt",
        "FilterBank": ".cwt",
        "MorseWavelet": ".cwt",
        "AmorWavelet": ".cwt",
        "WAVELETS": ".settings",
        "cwt_freq_bounds": ".cwt",
        "cwt_reference": ".cwt",
        "make_scales": ".cwt",
        "fft_length": ".cwt",
        # image
        "IMAGE_MODES": ".image",
        "jet_colormap": ".image",
        "rescale_per_image": ".image",
        "scalogram_images": ".image",
        "scalogram_indices": ".image",
        "scalogram_index_tensor": ".image",
        "image_colormap": ".image",
        "apply_colormap": ".image",
        "validate_image_config": ".image",
        # the cache's transform, rebuilt (images per batch)
        "ScalogramTransform": ".transform",
        "IMAGE_SETTINGS": ".image",
        "image_to_attrs": ".image",
        "image_from_attrs": ".image",
        # cache
        "build_scalogram_cache": ".cache",
        "parse_cwt_config": ".cache",
        "CACHE_FORMAT": ".format",
        "CACHE_CODECS": ".format",
        "DEFAULT_CODEC": ".format",
        "ROW_DELTA_CODECS": ".format",
        "row_delta_encode": ".reader",
        "row_delta_decode": ".reader",
        "IndexImageWriter": ".cache",
        "seal_cache": ".cache",
        "ChunkReader": ".reader",
        "read_colormap": ".reader",
        "OLD_RGB_CACHE": ".format",
        "ScalogramInfo": ".reader",
        "read_scalogram_info": ".reader",
        "read_scalogram_table": ".reader",
        "read_scalogram_attrs": ".reader",
        "attrs_checksum": ".reader",
        "check_cache_settings": ".reader",
        "write_gallery": ".gallery",
        # the data stages in one call
        "build_data": ".pipeline",
    },
)

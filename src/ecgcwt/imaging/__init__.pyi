"""Type stub of the lazy public face ``ecgcwt.imaging`` (``__init__.py``): each name from its module."""

from ecgcwt.imaging.cache import IndexImageWriter as IndexImageWriter
from ecgcwt.imaging.cache import build_scalogram_cache as build_scalogram_cache
from ecgcwt.imaging.cache import parse_cwt_config as parse_cwt_config
from ecgcwt.imaging.cache import seal_cache as seal_cache
from ecgcwt.imaging.cwt import AmorWavelet as AmorWavelet
from ecgcwt.imaging.cwt import FilterBank as FilterBank
from ecgcwt.imaging.cwt import MorseWavelet as MorseWavelet
from ecgcwt.imaging.cwt import cwt_freq_bounds as cwt_freq_bounds
from ecgcwt.imaging.cwt import cwt_reference as cwt_reference
from ecgcwt.imaging.cwt import fft_length as fft_length
from ecgcwt.imaging.cwt import make_scales as make_scales
from ecgcwt.imaging.cwt import transform_geometry as transform_geometry
from ecgcwt.imaging.format import CACHE_CODECS as CACHE_CODECS
from ecgcwt.imaging.format import CACHE_FORMAT as CACHE_FORMAT
from ecgcwt.imaging.format import DEFAULT_CODEC as DEFAULT_CODEC
from ecgcwt.imaging.format import OLD_RGB_CACHE as OLD_RGB_CACHE
from ecgcwt.imaging.format import ROW_DELTA_CODECS as ROW_DELTA_CODECS
from ecgcwt.imaging.gallery import write_gallery as write_gallery
from ecgcwt.imaging.image import IMAGE_MODES as IMAGE_MODES
from ecgcwt.imaging.image import IMAGE_SETTINGS as IMAGE_SETTINGS
from ecgcwt.imaging.image import apply_colormap as apply_colormap
from ecgcwt.imaging.image import image_colormap as image_colormap
from ecgcwt.imaging.image import image_from_attrs as image_from_attrs
from ecgcwt.imaging.image import image_to_attrs as image_to_attrs
from ecgcwt.imaging.image import jet_colormap as jet_colormap
from ecgcwt.imaging.image import rescale_per_image as rescale_per_image
from ecgcwt.imaging.image import scalogram_images as scalogram_images
from ecgcwt.imaging.image import scalogram_index_tensor as scalogram_index_tensor
from ecgcwt.imaging.image import scalogram_indices as scalogram_indices
from ecgcwt.imaging.image import validate_image_config as validate_image_config
from ecgcwt.imaging.pipeline import build_data as build_data
from ecgcwt.imaging.reader import ChunkReader as ChunkReader
from ecgcwt.imaging.reader import ScalogramInfo as ScalogramInfo
from ecgcwt.imaging.reader import attrs_checksum as attrs_checksum
from ecgcwt.imaging.reader import check_cache_settings as check_cache_settings
from ecgcwt.imaging.reader import read_colormap as read_colormap
from ecgcwt.imaging.reader import read_scalogram_attrs as read_scalogram_attrs
from ecgcwt.imaging.reader import read_scalogram_info as read_scalogram_info
from ecgcwt.imaging.reader import read_scalogram_table as read_scalogram_table
from ecgcwt.imaging.reader import row_delta_decode as row_delta_decode
from ecgcwt.imaging.reader import row_delta_encode as row_delta_encode
from ecgcwt.imaging.settings import CWT_ATTRS as CWT_ATTRS
from ecgcwt.imaging.settings import WAVELETS as WAVELETS
from ecgcwt.imaging.settings import CwtParams as CwtParams
from ecgcwt.imaging.transform import ScalogramTransform as ScalogramTransform

__all__ = [
    "AmorWavelet",
    "CACHE_CODECS",
    "CACHE_FORMAT",
    "CWT_ATTRS",
    "ChunkReader",
    "CwtParams",
    "DEFAULT_CODEC",
    "FilterBank",
    "IMAGE_MODES",
    "IMAGE_SETTINGS",
    "IndexImageWriter",
    "MorseWavelet",
    "OLD_RGB_CACHE",
    "ROW_DELTA_CODECS",
    "ScalogramInfo",
    "ScalogramTransform",
    "WAVELETS",
    "apply_colormap",
    "attrs_checksum",
    "build_data",
    "build_scalogram_cache",
    "check_cache_settings",
    "cwt_freq_bounds",
    "cwt_reference",
    "fft_length",
    "image_colormap",
    "image_from_attrs",
    "image_to_attrs",
    "jet_colormap",
    "make_scales",
    "parse_cwt_config",
    "read_colormap",
    "read_scalogram_attrs",
    "read_scalogram_info",
    "read_scalogram_table",
    "rescale_per_image",
    "row_delta_decode",
    "row_delta_encode",
    "scalogram_images",
    "scalogram_index_tensor",
    "scalogram_indices",
    "seal_cache",
    "transform_geometry",
    "validate_image_config",
    "write_gallery",
]

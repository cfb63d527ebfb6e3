"""Type stub of the lazy public face ``ecgcwt.apply`` (``__init__.py``): each name from its module."""

from ecgcwt.apply.card import model_card_of as model_card_of
from ecgcwt.apply.explain import attribution_figure as attribution_figure
from ecgcwt.apply.explain import band_shares as band_shares
from ecgcwt.apply.explain import explain_file_names as explain_file_names
from ecgcwt.apply.explain import explain_record as explain_record
from ecgcwt.apply.explain import explain_rows as explain_rows
from ecgcwt.apply.explain import find_target_layer as find_target_layer
from ecgcwt.apply.explain import grad_cam as grad_cam
from ecgcwt.apply.explain import image_axes as image_axes
from ecgcwt.apply.explain import top_band as top_band
from ecgcwt.apply.external import database_labels as database_labels
from ecgcwt.apply.external import external_metrics as external_metrics
from ecgcwt.apply.external import find_databases as find_databases
from ecgcwt.apply.external import predict_external as predict_external
from ecgcwt.apply.external import prediction_columns as prediction_columns
from ecgcwt.apply.model_file import load_trained_model as load_trained_model
from ecgcwt.apply.model_file import predict_scalograms as predict_scalograms
from ecgcwt.apply.predict import ModelFileError as ModelFileError
from ecgcwt.apply.predict import PredictModel as PredictModel
from ecgcwt.apply.predict import check_max_duration as check_max_duration
from ecgcwt.apply.predict import format_row as format_row
from ecgcwt.apply.predict import iter_record_batches as iter_record_batches
from ecgcwt.apply.predict import load_predict_model as load_predict_model
from ecgcwt.apply.predict import model_data_source as model_data_source
from ecgcwt.apply.predict import model_paths as model_paths
from ecgcwt.apply.predict import predict_kinds as predict_kinds
from ecgcwt.apply.predict import predict_records as predict_records
from ecgcwt.apply.predict import read_model_file as read_model_file
from ecgcwt.apply.predict import record_windows as record_windows
from ecgcwt.apply.predict import synthetic_model_warning as synthetic_model_warning
from ecgcwt.apply.signal_models import SignalModel as SignalModel

__all__ = [
    "ModelFileError",
    "PredictModel",
    "SignalModel",
    "attribution_figure",
    "band_shares",
    "check_max_duration",
    "database_labels",
    "explain_file_names",
    "explain_record",
    "explain_rows",
    "external_metrics",
    "find_databases",
    "find_target_layer",
    "format_row",
    "grad_cam",
    "image_axes",
    "iter_record_batches",
    "load_predict_model",
    "load_trained_model",
    "model_card_of",
    "model_data_source",
    "model_paths",
    "predict_external",
    "predict_kinds",
    "predict_records",
    "predict_scalograms",
    "prediction_columns",
    "read_model_file",
    "record_windows",
    "synthetic_model_warning",
    "top_band",
]

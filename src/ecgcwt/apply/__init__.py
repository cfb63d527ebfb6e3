"""apply: a trained model on new records. The model file, ``ecgcwt predict``, external validation.

The top wing: it may import every other wing; none imports it.
"""

from ecgcwt._exports import lazy_face

__all__, __getattr__, __dir__ = lazy_face(
    __name__,
    {
        "load_trained_model": ".model_file",
        "predict_scalograms": ".model_file",
        "ModelFileError": ".predict",
        "PredictModel": ".predict",
        "predict_kinds": ".predict",
        "read_model_file": ".predict",
        "SignalModel": ".signal_models",
        "model_data_source": ".predict",
        "synthetic_model_warning": ".predict",
        "load_predict_model": ".predict",
        "model_paths": ".predict",
        "predict_records": ".predict",
        "record_windows": ".predict",
        "iter_record_batches": ".predict",
        "format_row": ".predict",
        "check_max_duration": ".predict",
        "model_card_of": ".card",
        "predict_external": ".external",
        "external_metrics": ".external",
        "find_databases": ".external",
        "database_labels": ".external",
        "prediction_columns": ".external",
        "grad_cam": ".explain",
        "find_target_layer": ".explain",
        "image_axes": ".explain",
        "band_shares": ".explain",
        "top_band": ".explain",
        "explain_rows": ".explain",
        "attribution_figure": ".explain",
        "explain_record": ".explain",
        "explain_file_names": ".explain",
    },
)

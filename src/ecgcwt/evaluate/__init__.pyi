"""Type stub of the lazy public face ``ecgcwt.evaluate`` (``__init__.py``): each name from its module."""

from ecgcwt.evaluate.calibration import CALIBRATION_COLUMNS as CALIBRATION_COLUMNS
from ecgcwt.evaluate.calibration import CALIBRATION_LEVELS as CALIBRATION_LEVELS
from ecgcwt.evaluate.calibration import N_BINS as N_BINS
from ecgcwt.evaluate.calibration import brier_score as brier_score
from ecgcwt.evaluate.calibration import calibration_table as calibration_table
from ecgcwt.evaluate.calibration import expected_calibration_error as expected_calibration_error
from ecgcwt.evaluate.calibration import reliability_bins as reliability_bins
from ecgcwt.evaluate.compare import COMPARISON_COLUMNS as COMPARISON_COLUMNS
from ecgcwt.evaluate.compare import DIFFERENCE_COLUMNS as DIFFERENCE_COLUMNS
from ecgcwt.evaluate.compare import MIN_SUBJECTS_PER_CLASS as MIN_SUBJECTS_PER_CLASS
from ecgcwt.evaluate.compare import ExperimentResult as ExperimentResult
from ecgcwt.evaluate.compare import build_comparison as build_comparison
from ecgcwt.evaluate.compare import holm as holm
from ecgcwt.evaluate.compare import training_seconds as training_seconds
from ecgcwt.evaluate.metrics import INTERVAL_METHOD as INTERVAL_METHOD
from ecgcwt.evaluate.metrics import LEVELS as LEVELS
from ecgcwt.evaluate.metrics import METRIC_FUNCTIONS as METRIC_FUNCTIONS
from ecgcwt.evaluate.metrics import PER_CLASS_METRICS as PER_CLASS_METRICS
from ecgcwt.evaluate.metrics import SCALAR_METRICS as SCALAR_METRICS
from ecgcwt.evaluate.metrics import accuracy as accuracy
from ecgcwt.evaluate.metrics import aggregate as aggregate
from ecgcwt.evaluate.metrics import balanced_accuracy as balanced_accuracy
from ecgcwt.evaluate.metrics import balanced_accuracy_from_confusion as balanced_accuracy_from_confusion
from ecgcwt.evaluate.metrics import bootstrap_ci as bootstrap_ci
from ecgcwt.evaluate.metrics import bootstrap_metrics as bootstrap_metrics
from ecgcwt.evaluate.metrics import classification_metrics as classification_metrics
from ecgcwt.evaluate.metrics import clopper_pearson as clopper_pearson
from ecgcwt.evaluate.metrics import confusion as confusion
from ecgcwt.evaluate.metrics import evaluate_predictions as evaluate_predictions
from ecgcwt.evaluate.metrics import exact_intervals as exact_intervals
from ecgcwt.evaluate.metrics import flat_metrics as flat_metrics
from ecgcwt.evaluate.metrics import macro_f1 as macro_f1
from ecgcwt.evaluate.metrics import mean_recall as mean_recall
from ecgcwt.evaluate.metrics import subject_resample_weights as subject_resample_weights
from ecgcwt.evaluate.model_card import INTENDED_USE as INTENDED_USE
from ecgcwt.evaluate.model_card import MODEL_HASH_FIELD as MODEL_HASH_FIELD
from ecgcwt.evaluate.model_card import PREPROCESSING_TEXT as PREPROCESSING_TEXT
from ecgcwt.evaluate.model_card import card_facts_from_meta as card_facts_from_meta
from ecgcwt.evaluate.model_card import card_model_sha256 as card_model_sha256
from ecgcwt.evaluate.model_card import file_sha256 as file_sha256
from ecgcwt.evaluate.model_card import model_card_text as model_card_text
from ecgcwt.evaluate.model_card import write_model_card as write_model_card
from ecgcwt.evaluate.predictions import ID_COLUMNS as ID_COLUMNS
from ecgcwt.evaluate.predictions import build_predictions as build_predictions
from ecgcwt.evaluate.predictions import check_predictions as check_predictions
from ecgcwt.evaluate.predictions import classes_of as classes_of
from ecgcwt.evaluate.predictions import prob_columns as prob_columns
from ecgcwt.evaluate.predictions import raw_prob_columns as raw_prob_columns
from ecgcwt.evaluate.predictions import read_predictions as read_predictions
from ecgcwt.evaluate.predictions import write_predictions as write_predictions
from ecgcwt.evaluate.report import LeakRun as LeakRun
from ecgcwt.evaluate.report import ModelRuns as ModelRuns
from ecgcwt.evaluate.report import resolve_evaluate_config as resolve_evaluate_config
from ecgcwt.evaluate.report_steps import build_report as build_report
from ecgcwt.evaluate.report_text import validation_sentence as validation_sentence
from ecgcwt.evaluate.seeds import ENSEMBLE_SUFFIX as ENSEMBLE_SUFFIX
from ecgcwt.evaluate.seeds import SEEDS_COLUMNS as SEEDS_COLUMNS
from ecgcwt.evaluate.seeds import ensemble_predictions as ensemble_predictions
from ecgcwt.evaluate.seeds import mean_over_seeds as mean_over_seeds
from ecgcwt.evaluate.seeds import seeds_table as seeds_table
from ecgcwt.evaluate.stats import best_model as best_model
from ecgcwt.evaluate.stats import compare_models as compare_models
from ecgcwt.evaluate.stats import format_p as format_p
from ecgcwt.evaluate.stats import interpretation as interpretation
from ecgcwt.evaluate.stats import mcnemar_exact as mcnemar_exact
from ecgcwt.evaluate.stats import mcnemar_p_value as mcnemar_p_value
from ecgcwt.evaluate.stats import paired_bootstrap_difference as paired_bootstrap_difference
from ecgcwt.evaluate.stats import unit_outcomes as unit_outcomes

__all__ = [
    "CALIBRATION_COLUMNS",
    "CALIBRATION_LEVELS",
    "COMPARISON_COLUMNS",
    "DIFFERENCE_COLUMNS",
    "ENSEMBLE_SUFFIX",
    "ExperimentResult",
    "ID_COLUMNS",
    "INTENDED_USE",
    "INTERVAL_METHOD",
    "LEVELS",
    "LeakRun",
    "METRIC_FUNCTIONS",
    "MIN_SUBJECTS_PER_CLASS",
    "MODEL_HASH_FIELD",
    "ModelRuns",
    "N_BINS",
    "PER_CLASS_METRICS",
    "PREPROCESSING_TEXT",
    "SCALAR_METRICS",
    "SEEDS_COLUMNS",
    "accuracy",
    "aggregate",
    "balanced_accuracy",
    "balanced_accuracy_from_confusion",
    "best_model",
    "bootstrap_ci",
    "bootstrap_metrics",
    "brier_score",
    "build_comparison",
    "build_predictions",
    "build_report",
    "calibration_table",
    "card_facts_from_meta",
    "card_model_sha256",
    "check_predictions",
    "classes_of",
    "classification_metrics",
    "clopper_pearson",
    "compare_models",
    "confusion",
    "ensemble_predictions",
    "evaluate_predictions",
    "exact_intervals",
    "expected_calibration_error",
    "file_sha256",
    "flat_metrics",
    "format_p",
    "holm",
    "interpretation",
    "macro_f1",
    "mcnemar_exact",
    "mcnemar_p_value",
    "mean_over_seeds",
    "mean_recall",
    "model_card_text",
    "paired_bootstrap_difference",
    "prob_columns",
    "raw_prob_columns",
    "read_predictions",
    "reliability_bins",
    "resolve_evaluate_config",
    "seeds_table",
    "subject_resample_weights",
    "training_seconds",
    "unit_outcomes",
    "validation_sentence",
    "write_model_card",
    "write_predictions",
]

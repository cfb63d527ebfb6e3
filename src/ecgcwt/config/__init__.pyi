"""Type stub of the lazy public face ``ecgcwt.config`` (``__init__.py``): each name from its module."""

from ecgcwt.config.backbones import EXTRA_BACKBONES as EXTRA_BACKBONES
from ecgcwt.config.backbones import BackboneFamily as BackboneFamily
from ecgcwt.config.backbones import supported_backbones as supported_backbones
from ecgcwt.config.backbones import unknown_backbone_hint as unknown_backbone_hint
from ecgcwt.config.citation import citation_file as citation_file
from ecgcwt.config.citation import citation_text as citation_text
from ecgcwt.config.experiments import GRID_KEYS as GRID_KEYS
from ecgcwt.config.experiments import base_config as base_config
from ecgcwt.config.experiments import expand_experiments as expand_experiments
from ecgcwt.config.experiments import experiment_config as experiment_config
from ecgcwt.config.experiments import experiment_overrides as experiment_overrides
from ecgcwt.config.experiments import has_experiments as has_experiments
from ecgcwt.config.experiments import job_config as job_config
from ecgcwt.config.experiments import reference_experiment as reference_experiment
from ecgcwt.config.experiments import stage_keys as stage_keys
from ecgcwt.config.load import SYNTHETIC_CLASSES as SYNTHETIC_CLASSES
from ecgcwt.config.load import check_config as check_config
from ecgcwt.config.load import default_config as default_config
from ecgcwt.config.load import effective_config_yaml as effective_config_yaml
from ecgcwt.config.load import load_config as load_config
from ecgcwt.config.load import merge_config_files as merge_config_files
from ecgcwt.config.load import read_config_file as read_config_file
from ecgcwt.config.load import validate_config as validate_config
from ecgcwt.config.models import MODEL_KINDS as MODEL_KINDS
from ecgcwt.config.models import RUN_SETTINGS as RUN_SETTINGS
from ecgcwt.config.models import ModelKind as ModelKind
from ecgcwt.config.models import check_model_specs as check_model_specs
from ecgcwt.config.models import kind_of_meta as kind_of_meta
from ecgcwt.config.models import leak_model as leak_model
from ecgcwt.config.models import model_kind as model_kind
from ecgcwt.config.models import model_specs as model_specs
from ecgcwt.config.models import names_of_kind as names_of_kind
from ecgcwt.config.models import names_of_rule as names_of_rule
from ecgcwt.config.models import names_with as names_with
from ecgcwt.config.models import report_info as report_info
from ecgcwt.config.models import spec_for_seed as spec_for_seed
from ecgcwt.config.models import tracked_section as tracked_section
from ecgcwt.config.models import tracked_spec as tracked_spec
from ecgcwt.config.models import training_seeds as training_seeds
from ecgcwt.config.models import with_run_settings as with_run_settings
from ecgcwt.config.provenance import RUN_ONLY_KEYS as RUN_ONLY_KEYS
from ecgcwt.config.provenance import SYNTHETIC_WARNING as SYNTHETIC_WARNING
from ecgcwt.config.provenance import config_hash as config_hash
from ecgcwt.config.provenance import cpu_name as cpu_name
from ecgcwt.config.provenance import describe_data_source as describe_data_source
from ecgcwt.config.provenance import environment_facts as environment_facts
from ecgcwt.config.provenance import flat_settings as flat_settings
from ecgcwt.config.provenance import git_state as git_state
from ecgcwt.config.provenance import is_synthetic as is_synthetic
from ecgcwt.config.provenance import result_settings as result_settings
from ecgcwt.config.provenance import run_provenance as run_provenance
from ecgcwt.config.runs import RUN_FILES as RUN_FILES
from ecgcwt.config.runs import check_declared as check_declared
from ecgcwt.config.runs import files_by_model as files_by_model
from ecgcwt.config.runs import run_table as run_table
from ecgcwt.config.runs import runs_by_model as runs_by_model
from ecgcwt.config.runs import table_files as table_files
from ecgcwt.config.validate import augment_signal_on as augment_signal_on
from ecgcwt.config.validate import check_augment as check_augment
from ecgcwt.config.validate import check_backbones as check_backbones
from ecgcwt.config.validate import check_wavelet_name as check_wavelet_name
from ecgcwt.config.validate import check_weights_file as check_weights_file
from ecgcwt.config.validate import deep_update as deep_update
from ecgcwt.config.validate import load_schema as load_schema
from ecgcwt.config.validate import schema_of as schema_of
from ecgcwt.config.validate import schema_range as schema_range
from ecgcwt.config.validate import validate_section as validate_section

__all__ = [
    "BackboneFamily",
    "EXTRA_BACKBONES",
    "GRID_KEYS",
    "MODEL_KINDS",
    "ModelKind",
    "RUN_FILES",
    "RUN_ONLY_KEYS",
    "RUN_SETTINGS",
    "SYNTHETIC_CLASSES",
    "SYNTHETIC_WARNING",
    "augment_signal_on",
    "base_config",
    "check_augment",
    "check_backbones",
    "check_config",
    "check_declared",
    "check_model_specs",
    "check_wavelet_name",
    "check_weights_file",
    "citation_file",
    "citation_text",
    "config_hash",
    "cpu_name",
    "deep_update",
    "default_config",
    "describe_data_source",
    "effective_config_yaml",
    "environment_facts",
    "expand_experiments",
    "experiment_config",
    "experiment_overrides",
    "files_by_model",
    "flat_settings",
    "git_state",
    "has_experiments",
    "is_synthetic",
    "job_config",
    "kind_of_meta",
    "leak_model",
    "load_config",
    "load_schema",
    "merge_config_files",
    "model_kind",
    "model_specs",
    "names_of_kind",
    "names_of_rule",
    "names_with",
    "read_config_file",
    "reference_experiment",
    "report_info",
    "result_settings",
    "run_provenance",
    "run_table",
    "runs_by_model",
    "schema_of",
    "schema_range",
    "spec_for_seed",
    "stage_keys",
    "supported_backbones",
    "table_files",
    "tracked_section",
    "tracked_spec",
    "training_seeds",
    "unknown_backbone_hint",
    "validate_config",
    "validate_section",
    "with_run_settings",
]

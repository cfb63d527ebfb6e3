"""data: records in, segments out. WFDB reading, PhysioNet download, synthetic ECG, segmentation, the
segment store (``segments.h5``) and subject-grouped folds.

Imports only ``ecgcwt.config`` (and the top-level errors/atomic helpers).
"""

from ecgcwt._exports import lazy_face

__all__, __getattr__, __dir__ = lazy_face(
    __name__,
    {
        # records
        "DATA_SOURCES": ".records",
        "Record": ".records",
        "UnusableRecord": ".records",
        "read_record": ".records",
        "open_record": ".records",
        "OpenRecord": ".records",
        "read_record_list": ".records",
        "check_record_name": ".records",
        "check_record_names": ".records",
        "check_config_record_names": ".records",
        "check_subject_map": ".records",
        "ECG_FS_RANGE": ".records",
        "sampling_rate_problem": ".records",
        "record_files": ".records",
        "link_target": ".records",
        "fix_advice": ".records",
        # download
        "download_database": ".download",
        "DownloadSummary": ".download",
        "ENV_INDEX_URL": ".download",
        "MANIFEST_NAME": ".download",
        "VERIFY_MODES": ".download",
        "partial_download_path": ".download",
        # synthetic
        "generate_database": ".synthetic",
        "PROFILES": ".synthetic",
        "NATIVE_FS": ".synthetic",
        # MathWorks' ECGData.mat
        "read_ecgdata": ".mathworks",
        "row_records": ".mathworks",
        "write_mathworks_database": ".mathworks",
        "MATHWORKS_RECORDS": ".mathworks",
        "MATHWORKS_FS": ".mathworks",
        # segmentation
        "DatabaseSource": ".segmentation",
        "SegmentSpec": ".settings",
        "QualityLimits": ".settings",
        "DROP_REASONS": ".segmentation",
        "SEGMENT_ATTRS": ".settings",
        "segment_databases": ".segmentation",
        "segment_to_store": ".segmentation",
        "write_segments": ".segmentation",
        "skipped_records": ".segmentation",
        "cut_lead": ".segmentation",
        "preprocessing_from_attrs": ".settings",
        "synthetic_record_names": ".settings",
        "resample": ".segmentation",
        "window_starts": ".segmentation",
        "evenly_spaced": ".segmentation",
        # a record's windows, part by part
        "RecordWindows": ".chunked",
        "LeadSummary": ".chunked",
        "CHUNK_WINDOWS": ".chunked",
        # segment store
        "SegmentStoreInfo": ".segment_store",
        "write_segment_store": ".segment_store",
        "SegmentStoreWriter": ".segment_store",
        "read_info": ".segment_store",
        "read_table": ".segment_store",
        "read_source_facts": ".segment_store",
        "iter_signal_batches": ".segment_store",
        "table_from_group": ".segment_store",
        "write_table_group": ".segment_store",
        "decode_str": ".segment_store",
        "STR_DTYPE": ".segment_store",
        "SEGMENTS_REBUILD": ".segment_store",
        # folds
        "assign_folds": ".folds",
        "loso_folds": ".folds",
        "fold_plan": ".folds",
        "few_subjects_note": ".folds",
        "LOSO": ".folds",
        "read_folds": ".folds",
        "subject_table": ".folds",
        "FOLD_COLUMNS": ".folds",
    },
)

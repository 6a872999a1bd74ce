"""Every Kafka topic MLoop uses, in one place.

One topic per message type keeps consumers simple (a subscriber takes exactly one schema) and
lets each service subscribe only to what it handles. The partition key is always `scenario_id`.
"""

# Commands
TRAIN_MODEL = "mloop.cmd.train-model"
PREPARE_DATASET = "mloop.cmd.prepare-dataset"
PREDICT_BATCH = "mloop.cmd.predict-batch"
RUN_WORKFLOW = "mloop.cmd.run-workflow"
PROMOTE_MODEL = "mloop.cmd.promote-model"
ROLLBACK_MODEL = "mloop.cmd.rollback-model"
START_AB_TEST = "mloop.cmd.start-ab-test"
END_AB_TEST = "mloop.cmd.end-ab-test"
DELETE_MODELS = "mloop.cmd.delete-models"
DELETE_PREDICTIONS = "mloop.cmd.delete-predictions"

# Events
DATASET_UPLOADED = "mloop.evt.dataset-uploaded"
DATASET_PREPARED = "mloop.evt.dataset-prepared"
SCENARIO_DELETED = "mloop.evt.scenario-deleted"
FEEDBACK_RECEIVED = "mloop.evt.feedback-received"
KEYS_CHANGED = "mloop.evt.keys-changed"
RUN_STARTED = "mloop.evt.run-started"
RUN_PROGRESSED = "mloop.evt.run-progressed"
MODEL_TRAINED = "mloop.evt.model-trained"
RUN_FAILED = "mloop.evt.run-failed"
MODELS_DELETED = "mloop.evt.models-deleted"
PREDICTION_MADE = "mloop.evt.prediction-made"
BATCH_PREDICTION_COMPLETED = "mloop.evt.batch-prediction-completed"
DRIFT_DETECTED = "mloop.evt.drift-detected"
PERFORMANCE_DEGRADED = "mloop.evt.performance-degraded"
MODEL_PROMOTED = "mloop.evt.model-promoted"
MODEL_ROLLED_BACK = "mloop.evt.model-rolled-back"
AB_TEST_STARTED = "mloop.evt.ab-test-started"
AB_TEST_ENDED = "mloop.evt.ab-test-ended"
WORKFLOW_STEP_FINISHED = "mloop.evt.workflow-step-finished"
WORKFLOW_SAVED = "mloop.evt.workflow-saved"

# Infrastructure
HEARTBEATS = "mloop.sys.heartbeats"
DEAD_LETTER = "mloop.sys.dead-letter"

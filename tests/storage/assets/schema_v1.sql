BEGIN TRANSACTION;
CREATE TABLE schema_version (
	version INTEGER NOT NULL, 
	PRIMARY KEY (version)
);
INSERT INTO "schema_version" VALUES(1);
CREATE TABLE studies (
	id INTEGER NOT NULL, 
	name VARCHAR(128) NOT NULL, 
	config_json TEXT NOT NULL, 
	created_at FLOAT NOT NULL, 
	revision INTEGER NOT NULL, 
	next_number INTEGER NOT NULL, 
	PRIMARY KEY (id), 
	UNIQUE (name)
);
INSERT INTO "studies" VALUES(1,'old-a','{"goal": "maximize", "seed": 1, "space": {"builtin": "nb201"}, "strategy": "random", "strategy_options": {}}',1.79613485339751076698e+09,3,3);
INSERT INTO "studies" VALUES(2,'old-b','{"goal": "minimize", "seed": 0, "space": {"builtin": "nb201"}, "strategy": "evolution", "strategy_options": {}}',1.79613485342004346851e+09,2,1);
CREATE TABLE trials (
	id INTEGER NOT NULL, 
	study_id INTEGER NOT NULL, 
	number INTEGER NOT NULL, 
	state INTEGER NOT NULL, 
	arch TEXT NOT NULL, 
	arch_hash VARCHAR(128) NOT NULL, 
	dedup_key VARCHAR(128), 
	params_json TEXT NOT NULL, 
	value FLOAT, 
	predicted_value FLOAT, 
	region VARCHAR(256) NOT NULL, 
	client_id VARCHAR(128) NOT NULL, 
	request_id VARCHAR(128), 
	checkpoint_uri TEXT NOT NULL, 
	metadata_json TEXT NOT NULL, 
	created_at FLOAT NOT NULL, 
	finished_at FLOAT, 
	finished_seq INTEGER, 
	lease_expires_at FLOAT, 
	PRIMARY KEY (id), 
	CONSTRAINT uq_trials_study_dedup UNIQUE (study_id, dedup_key), 
	CONSTRAINT uq_trials_study_number UNIQUE (study_id, number), 
	FOREIGN KEY(study_id) REFERENCES studies (id) ON DELETE CASCADE
);
INSERT INTO "trials" VALUES(1,1,0,2,'|nor_conv_1x1~0|+|nor_conv_1x1~0|nor_conv_3x3~1|+|avg_pool_3x3~0|none~1|none~2|','223400','223400','{"edge_1_0": "nor_conv_1x1", "edge_2_0": "nor_conv_1x1", "edge_2_1": "nor_conv_3x3", "edge_3_0": "avg_pool_3x3", "edge_3_1": "none", "edge_3_2": "none"}',0.5,NULL,'','','318dd0fd8b9b4be38e59f189e16f1723','','{}',1.79613485340945672986e+09,1.79613485341193079942e+09,2,NULL);
INSERT INTO "trials" VALUES(2,1,1,3,'|avg_pool_3x3~0|+|avg_pool_3x3~0|skip_connect~1|+|skip_connect~0|avg_pool_3x3~1|nor_conv_1x1~2|','441142','441142','{"edge_1_0": "avg_pool_3x3", "edge_2_0": "avg_pool_3x3", "edge_2_1": "skip_connect", "edge_3_0": "skip_connect", "edge_3_1": "avg_pool_3x3", "edge_3_2": "nor_conv_1x1"}',NULL,NULL,'','','318dd0fd8b9b4be38e59f189e16f1723','','{"reason": "oom"}',1.79613485340945672986e+09,1.79613485341496062278e+09,3,NULL);
INSERT INTO "trials" VALUES(3,1,2,1,'|skip_connect~0|+|avg_pool_3x3~0|skip_connect~1|+|nor_conv_1x1~0|nor_conv_3x3~1|nor_conv_1x1~2|','141232','141232','{"edge_1_0": "skip_connect", "edge_2_0": "avg_pool_3x3", "edge_2_1": "skip_connect", "edge_3_0": "nor_conv_1x1", "edge_3_1": "nor_conv_3x3", "edge_3_2": "nor_conv_1x1"}',NULL,NULL,'','','318dd0fd8b9b4be38e59f189e16f1723','','{}',1.79613485340945672986e+09,NULL,NULL,1.79613845340945672986e+09);
INSERT INTO "trials" VALUES(4,2,0,2,'|avg_pool_3x3~0|+|nor_conv_3x3~0|nor_conv_1x1~1|+|skip_connect~0|skip_connect~1|none~2|','432110','432110','{"edge_1_0": "avg_pool_3x3", "edge_2_0": "nor_conv_3x3", "edge_2_1": "nor_conv_1x1", "edge_3_0": "skip_connect", "edge_3_1": "skip_connect", "edge_3_2": "none"}',2.0,NULL,'','','a2a6f905e89748ac980af945bfb6b84e','','{}',1796134853.42424,1.7961348534258539676e+09,2,NULL);
CREATE INDEX ix_trials_study_finished_seq ON trials (study_id, finished_seq);
CREATE INDEX ix_trials_study_request ON trials (study_id, request_id);
CREATE INDEX ix_trials_study_state ON trials (study_id, state);
COMMIT;

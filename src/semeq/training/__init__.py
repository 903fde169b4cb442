"""Training of semeq's two models (torch; the ``train`` extra).

One job per module:

- :mod:`.config`: ``TrainConfig`` (EQ model), ``AudioTrainConfig`` (audio encoder), shared grids;
- :mod:`.settings`: unit mapping, random EQ settings, the encoder's setting sets and split;
- :mod:`.losses`: supervised contrastive, parameter mask, KL, centroid, isometry, prototype terms;
- :mod:`.eq_data`: SAFE-DB and Audealize prepared for the EQ model;
- :mod:`.eq_loop`: the EQ model's loop; :mod:`.vocabulary`: its words; :mod:`.evaluation`: its metrics;
- :mod:`.eq`: ``train_eq_model``, the EQ model end to end;
- :mod:`.audio_data`: the encoder's sources (development clips, corpus crops, noise);
- :mod:`.audio_loop`: its examples, targets and loop; :mod:`.audio`: ``train_audio_encoder``;
- :mod:`.checkpoints`: the one atomic writer of both models' files, and the SHA-256 pairing.
"""

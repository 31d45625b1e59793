"""Active learning: which unlabeled samples a label would help most, on cached features.

``quick_head.py`` fits a linear head on the labelled samples' features in
well under a second; ``ranking.py`` ranks the pool by the head's uncertainty
(margin), most uncertain first, and does a pure spread when nothing is
labelled yet. Pure numpy/torch on feature arrays: any modality, no Qt.
"""

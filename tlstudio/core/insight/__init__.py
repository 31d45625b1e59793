"""What the model learned and what is wrong with the data, on the frozen base's cached features.

``features.collect_features`` extracts (once, through the feature cache) the
features of every labelled sample of a Project; the analyses work on that
``DatasetFeatures``: the data audit (``label_issues``, ``duplicates``,
``outliers``, gathered by ``report.run_audit``; ``actions`` applies its
findings to disk with an undo record), and the other insight views built on
the same features. Everything here is Qt-free and works for images and text.
"""

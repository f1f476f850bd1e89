# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The build context: ignore files, a snapshot that never leaves the context directory,
COPY/ADD source selection and the content digest of what a step copies.

``patterns.py``  .dockerignore patterns and COPY source wildcards, matched in linear time
``ignore.py``    which ignore file applies, its lines, and the last-match-wins evaluation
``snapshot.py``  the walk: symlinks kept as links, special files skipped, bounded
``sources.py``   COPY/ADD sources resolved inside the snapshot, directories as contents
``digest.py``    the content digest of a selection, for the layer cache key
"""

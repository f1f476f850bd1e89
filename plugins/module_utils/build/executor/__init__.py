# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Dockerfile executor: a parsed Dockerfile driven through the build engine (``Build``).

``api.py``       ``build_dockerfile``: the one entry point (idempotency, check mode, the store)
``stages.py``    which stages a target needs, FROM resolution, ARG scoping and predefined args
``execute.py``   one stage's instructions on a ``Build``, layer by layer, with the layer cache
``mounts.py``    RUN --mount (secret, cache, bind, tmpfs) as runc mounts, each checked
``sources.py``   COPY/ADD sources: context, other stages, images, heredocs
"""

"""Keras models of the study: the conditional GAN, the COVID-19 classifier and Grad-CAM.

Importing this package imports no TensorFlow; its modules that build or train models do.
"""

from typing import Any

# A keras.Model, as node signatures name it. Kedro reads every node's type hints
# (typing.get_type_hints) to validate its parameters, also for commands that train nothing
# (`kedro catalog ...`), so the real class there would import TensorFlow for them.
KerasModel = Any

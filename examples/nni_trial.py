"""One NNI trial of the digits search: NNI starts this script with the parameters its
tuner (archsampler's `ArchSamplerTuner`) generated. Usage: `python nni_trial.py EPOCHS`."""

import sys

import digits
import nni

result = digits.train(nni.get_next_parameter(), epochs=int(sys.argv[1]))
nni.report_final_result({"default": result["valid_acc"], "test_acc": result["test_acc"]})

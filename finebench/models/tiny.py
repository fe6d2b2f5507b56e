"""A tiny random Qwen2.5-VL built on the spot, so the whole harness can run without downloads.

The model has random weights and answers nonsense, but it goes through exactly the code paths of a
real Qwen2.5-VL checkpoint: the same architecture class, a byte-level BPE tokenizer with the Qwen
special tokens, the Qwen2-VL image processor and a Qwen2.5-VL chat template. Tests, the smoke run
and the training recipes use it in place of a multi-gigabyte download.

Everything is derived from the seed: the weights come from a seeded initialisation (without
touching the caller's RNG state) and the tokenizer is trained on a fixed built-in corpus, so two
builds with one seed are byte-identical. A build is written to a temporary sibling folder and
renamed into place, so a reader never sees a half-written model; a folder that already holds a
complete build of the same builder version and seed is returned untouched.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from finebench.resources import default_data_root
from finebench.suggest import unknown_name_error

if TYPE_CHECKING:  # transformers is imported only when a model is actually built
    from transformers import PreTrainedTokenizerBase

BUILDER_VERSION = 1
"""Bump whenever the output of the builder changes, so cached builds are rebuilt."""

BUILD_MARKER = "finebench_build.json"
"""Written last into a build; its presence (with matching version and seed) means complete."""

SPECIAL_TOKENS = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|object_ref_start|>",
    "<|object_ref_end|>",
    "<|box_start|>",
    "<|box_end|>",
    "<|quad_start|>",
    "<|quad_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
)
"""Qwen2.5-VL's special tokens, in Qwen's order; they get ids after the trained BPE vocabulary."""

BPE_VOCAB_SIZE = 1000
"""Size of the trained vocabulary before the special tokens; small enough to keep embeddings tiny."""

INIT_STD = 0.1
"""Std of the random weights (see ``_build_into`` for why not the usual 0.02)."""

MIN_PIXELS = 28 * 28
MAX_PIXELS = 84 * 84
"""Image bounds: with 14-pixel patches merged 2x2, an image becomes 1 to 9 placeholder tokens."""

# Qwen2.5-VL's chat template (system prompt defaulted, image/video placeholders, generation prompt).
CHAT_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}"
    "{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
    "{% endif %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}"
    "{% if add_vision_id %}Picture {{ image_count.value }}: {% endif %}"
    "<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}"
    "{% set video_count.value = video_count.value + 1 %}"
    "{% if add_vision_id %}Video {{ video_count.value }}: {% endif %}"
    "<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}"
    "{% endif %}{% endfor %}<|im_end|>\n"
    "{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

_ENGLISH = """
the a an of and or to in on at by for with from as is are was were be been this that these those
it its which what who whose where when how why not no yes all any each some one two three four five
six seven eight nine ten first second third last other same different more most less very also only
image picture photo shows shown show see seen visible looks look like similar than color colour
red orange yellow green blue purple pink brown black white gray grey dark light pale bright large
small long short wide narrow thin thick round pointed curved straight head body tail wing wings beak
bill eye eyes leg legs feet feather feathers crown throat breast belly back neck nape stripe stripes
spot spots pattern patterned plumage petal petals leaf leaves stem flower bloom fur coat ear ears
nose muzzle face paw paws engine engines fuselage nose cockpit window windows door doors wheel wheels
grille headlight headlights roof bumper sedan coupe convertible hatchback wagon minivan suv truck van
cab pickup aircraft airplane airliner jet propeller turboprop car vehicle model make year brand bird
dog cat pet species breed variant family manufacturer category class name answer question options
option choice final reasoning thinking process response format output based provided given tags
closed open world fine grained recognition identify identified classify classification because
therefore so thus however likely probably most closely matches match distinctive features feature
characteristic characteristics typical compared consider considering first then finally overall
"""

_CLASS_NAMES = """
Black footed Albatross, Laysan Albatross, Sooty Albatross, Groove billed Ani, Crested Auklet,
Least Auklet, Parakeet Auklet, Rhinoceros Auklet, Brewer Blackbird, Red winged Blackbird,
Rusty Blackbird, Yellow headed Blackbird, Bobolink, Indigo Bunting, Lazuli Bunting, Painted Bunting,
Cardinal, Spotted Catbird, Gray Catbird, Yellow breasted Chat, Eastern Towhee, Chuck will Widow,
Brandt Cormorant, Red faced Cormorant, Pelagic Cormorant, Bronzed Cowbird, Shiny Cowbird,
Brown Creeper, American Crow, Fish Crow, Black billed Cuckoo, Mangrove Cuckoo, Yellow billed Cuckoo,
Gray crowned Rosy Finch, Purple Finch, Northern Flicker, Acadian Flycatcher, Great Crested Flycatcher,
Least Flycatcher, Olive sided Flycatcher, Scissor tailed Flycatcher, Vermilion Flycatcher,
American Goldfinch, European Goldfinch, Boat tailed Grackle, Eared Grebe, Horned Grebe,
Pied billed Grebe, Western Grebe, Blue Grosbeak, Evening Grosbeak, Pine Grosbeak,
Rose breasted Grosbeak, Pigeon Guillemot, California Gull, Glaucous winged Gull, Herring Gull,
Ruby throated Hummingbird, Blue Jay, Florida Jay, Green Jay, Dark eyed Junco, Tropical Kingbird,
Belted Kingfisher, Green Kingfisher, Pied Kingfisher, Mallard, Western Meadowlark, Hooded Merganser,
Mockingbird, Nighthawk, Clark Nutcracker, White breasted Nuthatch, Baltimore Oriole, Hooded Oriole,
Ovenbird, Brown Pelican, White Pelican, Western Wood Pewee, Sayornis, American Pipit, Whip poor Will,
Horned Puffin, Common Raven, White necked Raven, American Redstart, Geococcyx, Loggerhead Shrike,
Baird Sparrow, Chipping Sparrow, Song Sparrow, Cape Glossy Starling, Bank Swallow, Barn Swallow,
Scarlet Tanager, Summer Tanager, Arctic Tern, Caspian Tern, Common Tern, Green tailed Towhee,
Brown Thrasher, Sage Thrasher, Red eyed Vireo, Warbling Vireo, Bay breasted Warbler,
Black and white Warbler, Blue winged Warbler, Cape May Warbler, Yellow Warbler, Common Yellowthroat,
Cedar Waxwing, Pileated Woodpecker, Red headed Woodpecker, Downy Woodpecker, Bewick Wren, Cactus Wren,
Boeing 707-320, Boeing 727-200, Boeing 737-300, Boeing 737-800, Boeing 747-400, Boeing 757-200,
Boeing 767-300, Boeing 777-300, Airbus A300B4, Airbus A310, Airbus A319, Airbus A320, Airbus A321,
Airbus A330-200, Airbus A340-300, Airbus A380, ATR-42, ATR-72, BAE 146-200, Beechcraft 1900,
Cessna 172, Cessna 208, Challenger 600, CRJ-200, CRJ-700, DC-3, DC-9-30, DHC-8-100, Dornier 328,
Embraer E-170, Embraer E-190, ERJ 145, Falcon 2000, Fokker 100, Gulfstream IV, Hawk T1, MD-80,
Saab 340, Spitfire, Tu-154, Yak-42, F-16A/B, F/A-18, Cessna Citation, Eurofighter Typhoon,
AM General Hummer SUV 2000, Acura TL Sedan 2012, Aston Martin V8 Vantage Convertible 2012,
Audi A5 Coupe 2012, Audi R8 Coupe 2012, Audi TT RS Coupe 2012, BMW M3 Coupe 2012, BMW X5 SUV 2007,
Bentley Continental GT Coupe 2012, Bugatti Veyron 16.4 Coupe 2009, Buick Enclave SUV 2012,
Cadillac Escalade EXT Crew Cab 2007, Chevrolet Corvette ZR1 2012, Chevrolet Silverado 1500 2012,
Dodge Challenger SRT8 2011, Ferrari 458 Italia Convertible 2012, Fiat 500 Abarth 2012,
Ford Mustang Convertible 2007, Ford F-150 Regular Cab 2012, Honda Odyssey Minivan 2012,
Hyundai Sonata Sedan 2012, Jeep Wrangler SUV 2012, Lamborghini Aventador Coupe 2012,
Mercedes-Benz SL-Class Coupe 2009, Nissan Leaf Hatchback 2012, Porsche Panamera Sedan 2012,
Tesla Model S Sedan 2012, Toyota Camry Sedan 2012, Volkswagen Golf Hatchback 2012, Volvo XC90 SUV 2007,
Chihuahua, Japanese Spaniel, Maltese Dog, Pekinese, Shih Tzu, Blenheim Spaniel, Papillon,
Toy Terrier, Rhodesian Ridgeback, Afghan Hound, Basset, Beagle, Bloodhound, Bluetick, Borzoi,
Irish Wolfhound, Italian Greyhound, Whippet, Ibizan Hound, Norwegian Elkhound, Otterhound, Saluki,
Scottish Deerhound, Weimaraner, Staffordshire Bullterrier, Border Terrier, Kerry Blue Terrier,
Irish Terrier, Norfolk Terrier, Yorkshire Terrier, Airedale, Cairn, Australian Terrier,
Golden Retriever, Labrador Retriever, Chesapeake Bay Retriever, German Short haired Pointer, Vizsla,
English Setter, Irish Setter, Gordon Setter, Brittany Spaniel, Cocker Spaniel, Sussex Spaniel,
Kuvasz, Schipperke, Groenendael, Malinois, Briard, Kelpie, Komondor, Old English Sheepdog,
Shetland Sheepdog, Collie, Border Collie, Rottweiler, German Shepherd, Doberman, Boxer, Bull Mastiff,
Tibetan Mastiff, French Bulldog, Great Dane, Saint Bernard, Eskimo Dog, Malamute, Siberian Husky,
Pug, Leonberg, Newfoundland, Great Pyrenees, Samoyed, Pomeranian, Chow, Keeshond, Pembroke, Cardigan,
Toy Poodle, Miniature Poodle, Standard Poodle, Dingo, Dhole, African Hunting Dog,
Abyssinian, Bengal, Birman, Bombay, British Shorthair, Egyptian Mau, Maine Coon, Persian, Ragdoll,
Russian Blue, Siamese, Sphynx, American Bulldog, American Pit Bull Terrier, Basset Hound,
English Cocker Spaniel, Havanese, Japanese Chin, Leonberger, Miniature Pinscher, Scottish Terrier,
Shiba Inu, Wheaten Terrier, pink primrose, hard leaved pocket orchid, canterbury bells, sweet pea,
english marigold, tiger lily, moon orchid, bird of paradise, monkshood, globe thistle, snapdragon,
colt's foot, king protea, spear thistle, yellow iris, globe flower, purple coneflower, peruvian lily,
balloon flower, giant white arum lily, fire lily, pincushion flower, fritillary, red ginger,
grape hyacinth, corn poppy, prince of wales feathers, stemless gentian, artichoke, sweet william,
carnation, garden phlox, love in the mist, mexican aster, alpine sea holly, ruby lipped cattleya,
cape flower, great masterwort, siam tulip, lenten rose, barbeton daisy, daffodil, sword lily,
poinsettia, bolero deep blue, wallflower, marigold, buttercup, oxeye daisy, common dandelion, petunia,
wild pansy, primula, sunflower, pelargonium, bishop of llandaff, gaura, geranium, orange dahlia,
pink yellow dahlia, cautleya spicata, japanese anemone, black eyed susan, silverbush,
californian poppy, osteospermum, spring crocus, bearded iris, windflower, tree poppy, gazania, azalea,
water lily, rose, thorn apple, morning glory, passion flower, lotus, toad lily, anthurium, frangipani,
clematis, hibiscus, columbine, desert rose, tree mallow, magnolia, cyclamen, watercress, canna lily,
hippeastrum, bee balm, ball moss, foxglove, bougainvillea, camellia, mallow, mexican petunia,
bromelia, blanket flower, trumpet creeper, blackberry lily
"""

_PROMPTS = """
Given the question: What is the species of the bird in this image?, based on the options provided in
['Laysan Albatross', 'Sooty Albatross', 'Crested Auklet', 'Least Auklet'], output the thinking
process in <think> </think> and final choice in <answer> </answer> tags. The response format
should be: <think>...</think> <answer>choice</answer>.
Given the question: What is the model of the aircraft in this image?. This is a fine-grained
question. Output reasoning in <think></think> and the final answer in <answer></answer>.
What is the breed of the dog in this image? What is the breed of the pet in this image?
What is the make, model and year of the car in this image? What is the name of the flower?
<think>The bird has a white head, a long hooked bill and dark wings, so it is an albatross.</think>
<answer>Laysan Albatross</answer>
<think>The plane has four engines and a double deck fuselage.</think> <answer>Airbus A380</answer>
You are a helpful assistant. 0 1 2 3 4 5 6 7 8 9 10 100 2012 2009 2007 ( ) [ ] { } ' " , . : ; ? ! - /
"""


def _corpus() -> list[str]:
    """The tokenizer's training text, one line per entry, in a fixed order."""
    return [line for part in (_ENGLISH, _CLASS_NAMES, _PROMPTS) for line in part.strip().splitlines()]


def _train_tokenizer() -> PreTrainedTokenizerBase:
    """A Qwen2 tokenizer whose BPE merges are learnt here (byte-level, so any text encodes).

    The pre-tokenization pipeline is Qwen2's (NFC, its split regex, byte-level), so the learnt
    vocabulary behaves like a miniature of the real one; the special tokens are appended after
    it, as in Qwen's vocabulary.
    """
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    from transformers import Qwen2TokenizerFast
    from transformers.models.qwen2.tokenization_qwen2 import PRETOKENIZE_REGEX

    bpe = Tokenizer(models.BPE())
    bpe.normalizer = normalizers.NFC()
    bpe.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(PRETOKENIZE_REGEX), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=BPE_VOCAB_SIZE,
        min_frequency=1,
        show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        special_tokens=[],
    )
    bpe.train_from_iterator(_corpus(), trainer=trainer)
    model = json.loads(bpe.to_str())["model"]
    vocab = dict(model["vocab"])
    vocab.update({token: len(model["vocab"]) + i for i, token in enumerate(SPECIAL_TOKENS)})
    return Qwen2TokenizerFast(
        vocab=vocab,
        merges=[tuple(pair) for pair in model["merges"]],
        unk_token=None,
        bos_token=None,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        extra_special_tokens=[t for t in SPECIAL_TOKENS if t not in ("<|im_end|>", "<|endoftext|>")],
        model_max_length=32768,
        chat_template=CHAT_TEMPLATE,
    )


def _build_into(directory: Path, seed: int) -> None:
    """Write tokenizer, processors, config and seeded random weights into an empty folder."""
    import torch
    from transformers import GenerationConfig, Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    tokenizer = _train_tokenizer()
    ids = {token: tokenizer.convert_tokens_to_ids(token) for token in SPECIAL_TOKENS}
    vocab_size = -(-len(tokenizer) // 64) * 64  # padded like Qwen's embedding tables
    # The default initializer_range (0.02) makes a random model echo one token whatever the input,
    # which would make every test of prompts, images or batching vacuous; 0.1 gives varied output.
    # Untied embeddings for the same reason: tied ones make the model copy its last input token.
    init = {"initializer_range": INIT_STD}
    special = {
        "bos_token_id": ids["<|endoftext|>"],
        "eos_token_id": ids["<|im_end|>"],
        "pad_token_id": ids["<|endoftext|>"],
    }
    config = Qwen2_5_VLConfig(
        text_config={
            "vocab_size": vocab_size,
            "hidden_size": 64,
            "intermediate_size": 128,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "num_key_value_heads": 2,
            "max_position_embeddings": 4096,
            "max_window_layers": 2,
            # Qwen's (temporal, height, width) split of the rotary frequencies, [16, 24, 24] for
            # head_dim 128, scaled to head_dim 16; it must sum to head_dim / 2.
            "rope_parameters": {"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": [2, 3, 3]},
            **init,
            **special,
        },
        vision_config={
            "depth": 2,
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_heads": 2,
            "out_hidden_size": 64,
            # Block 0 uses windowed attention (2x2 merged patches per window), block 1 full
            # attention, so both of Qwen2.5-VL's vision attention paths run.
            "fullatt_block_indexes": [1],
            "window_size": 56,
            **init,
        },
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=False,
        **init,
        **special,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = Qwen2_5_VLForConditionalGeneration(config).to(torch.float32).eval()
    model.generation_config = GenerationConfig(
        bos_token_id=special["bos_token_id"],
        eos_token_id=[ids["<|im_end|>"], ids["<|endoftext|>"]],
        pad_token_id=special["pad_token_id"],
        do_sample=False,
    )
    model.save_pretrained(directory)

    save_processor(directory, tokenizer, MIN_PIXELS, MAX_PIXELS)


def save_processor(directory: Path, tokenizer: PreTrainedTokenizerBase, min_pixels: int, max_pixels: int) -> None:
    """A Qwen2.5-VL processor (image and video processors bounded to the pixels, the chat
    template) around ``tokenizer``, saved into ``directory``."""
    from transformers import Qwen2_5_VLProcessor, Qwen2VLImageProcessor, Qwen2VLVideoProcessor

    pixels = {"min_pixels": min_pixels, "max_pixels": max_pixels}
    processor = Qwen2_5_VLProcessor(
        image_processor=Qwen2VLImageProcessor(**pixels),
        tokenizer=tokenizer,
        video_processor=Qwen2VLVideoProcessor(**pixels),
        chat_template=CHAT_TEMPLATE,
    )
    processor.save_pretrained(directory)


def _is_complete(directory: Path, builder: str, seed: int) -> bool:
    try:
        marker = json.loads((directory / BUILD_MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return marker.get("builder") == builder and marker.get("builder_version") == BUILDER_VERSION and marker.get("seed") == seed


def build_atomically(dest: Path, seed: int, builder: str, build_into: Callable[[Path, int], None]) -> Path:
    """Build (or reuse) a model in ``dest`` with ``build_into``; returns ``dest``.

    Builds into a temporary sibling and renames it into place, so concurrent builders and
    interrupted builds never leave a half-written model behind; an outdated build is replaced.
    """
    dest = Path(dest)
    if _is_complete(dest, builder, seed):
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}.build-"))
    try:
        build_into(staging, seed)
        marker = {"builder": builder, "builder_version": BUILDER_VERSION, "seed": seed}
        (staging / BUILD_MARKER).write_text(json.dumps(marker, indent=2) + "\n", encoding="utf-8")
        if dest.exists():
            if _is_complete(dest, builder, seed):  # another process finished first
                return dest
            stale = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}.stale-"))
            os.replace(dest, stale / dest.name)
            shutil.rmtree(stale, ignore_errors=True)
        try:
            os.replace(staging, dest)
        except OSError:
            if not _is_complete(dest, builder, seed):  # lost a race against a different build: report it
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return dest


def build_tiny_qwen25vl(dest: Path, seed: int = 0) -> Path:
    """Build (or reuse) the tiny random Qwen2.5-VL in ``dest``; returns ``dest``."""
    return build_atomically(dest, seed, "tiny-qwen2.5-vl", _build_into)


def build_tiny_clip(dest: Path, seed: int = 0) -> Path:
    """Build (or reuse) the tiny random CLIP in ``dest`` (see ``finebench.models.tiny_clip``)."""
    from finebench.models.tiny_clip import build_into

    return build_atomically(dest, seed, "tiny-clip", build_into)


BUILTIN_MODELS: dict[str, Callable[[Path], Path]] = {"tiny-qwen2.5-vl": build_tiny_qwen25vl, "tiny-clip": build_tiny_clip}
"""Models finebench can build offline, addressed in model cards as ``builtin:NAME``."""


def resolve_builtin(name: str, cache_root: Path | None = None) -> Path:
    """The folder of built-in model ``name`` under ``cache_root/models``, built on first use."""
    if name not in BUILTIN_MODELS:
        raise unknown_name_error("built-in model", name, BUILTIN_MODELS, hint="used as builtin:NAME in a model card")
    root = Path(cache_root) if cache_root is not None else default_data_root()
    return BUILTIN_MODELS[name](root / "models" / name)

"""The text the tiny offline models' tokenizers are trained on: a little English, the class names of
the six datasets and the prompt wording, so that every prompt finebench sends tokenises into
real sub-words. Shared by the tiny Qwen2.5-VL and the tiny CLIP."""

from __future__ import annotations

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


def corpus() -> list[str]:
    """The tokenizer's training text, one line per entry, in a fixed order."""
    return [line for part in (_ENGLISH, _CLASS_NAMES, _PROMPTS) for line in part.strip().splitlines()]
